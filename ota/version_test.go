package ota

import "testing"

func TestVersionOrder(t *testing.T) {
	// Each version sorts strictly after the one before it.
	order := []string{"v0.9.9", "v1.0.0-alpha", "v1.0.0-alpha.1", "v1.0.0-alpha.beta", "v1.0.0-beta.2", "v1.0.0-beta.11", "v1.0.0-rc.1", "v1.0.0", "v1.0.1", "v1.2.0", "v2.0.0"}
	for i := 1; i < len(order); i++ {
		a, err := ParseVersion(order[i-1])
		if err != nil {
			t.Fatal(err)
		}
		b, err := ParseVersion(order[i])
		if err != nil {
			t.Fatal(err)
		}
		if a.Compare(b) != -1 || b.Compare(a) != 1 || a.Compare(a) != 0 {
			t.Errorf("%s vs %s: %d", a, b, a.Compare(b))
		}
		if a.String() != order[i-1] {
			t.Errorf("round trip %q -> %q", order[i-1], a)
		}
	}
}

func TestParseVersionRejects(t *testing.T) {
	for _, s := range []string{"", "v1", "v1.2", "v1.2.x", "v01.2.3", "v1.2.3-", "v-1.2.3", "v1.2.3.4"} {
		if _, err := ParseVersion(s); err == nil {
			t.Errorf("ParseVersion(%q) accepted", s)
		}
	}
}
