package ota

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a release version "vMAJOR.MINOR.PATCH" with an optional
// "-PRE" suffix (a pre-release sorts before its release).
type Version struct {
	Major, Minor, Patch int
	Pre                 string
}

// ParseVersion parses "v1.2.3" or "1.2.3-rc.1".
func ParseVersion(s string) (Version, error) {
	var v Version
	core, pre, _ := strings.Cut(strings.TrimPrefix(s, "v"), "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return v, fmt.Errorf("version %q: want MAJOR.MINOR.PATCH", s)
	}
	nums := []*int{&v.Major, &v.Minor, &v.Patch}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || len(p) > 1 && p[0] == '0' {
			return v, fmt.Errorf("version %q: %q is not a number without leading zeros", s, p)
		}
		*nums[i] = n
	}
	if strings.Contains(s, "-") && pre == "" {
		return v, fmt.Errorf("version %q: empty pre-release", s)
	}
	v.Pre = pre
	return v, nil
}

// String renders the version with its "v" prefix.
func (v Version) String() string {
	s := fmt.Sprintf("v%d.%d.%d", v.Major, v.Minor, v.Patch)
	if v.Pre != "" {
		s += "-" + v.Pre
	}
	return s
}

// Compare returns -1, 0 or +1 as v sorts before, equal to or after w.
// Pre-release identifiers compare as in semver: numeric ones numerically,
// others as text, numeric below text, a shorter list first.
func (v Version) Compare(w Version) int {
	for _, d := range []int{v.Major - w.Major, v.Minor - w.Minor, v.Patch - w.Patch} {
		if d != 0 {
			return sign(d)
		}
	}
	switch {
	case v.Pre == w.Pre:
		return 0
	case v.Pre == "":
		return 1
	case w.Pre == "":
		return -1
	}
	a, b := strings.Split(v.Pre, "."), strings.Split(w.Pre, ".")
	for i := 0; i < len(a) && i < len(b); i++ {
		na, ea := strconv.Atoi(a[i])
		nb, eb := strconv.Atoi(b[i])
		switch {
		case ea == nil && eb == nil:
			if na != nb {
				return sign(na - nb)
			}
		case ea == nil:
			return -1
		case eb == nil:
			return 1
		default:
			if c := strings.Compare(a[i], b[i]); c != 0 {
				return c
			}
		}
	}
	return sign(len(a) - len(b))
}

func sign(d int) int {
	switch {
	case d < 0:
		return -1
	case d > 0:
		return 1
	}
	return 0
}
