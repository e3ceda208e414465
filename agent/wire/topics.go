package wire

import (
	"fmt"
	"regexp"
	"strings"
)

// DefaultRoot is the topic root of protocol v1.
const DefaultRoot = "loaxa/v1"

// MaxPayload is the largest command payload the agent accepts (64 KiB);
// larger ones are answered with CodeTooLarge.
const MaxPayload = 64 << 10

var nameRE = regexp.MustCompile(`^[a-z0-9-]{3,64}$`)

// ValidID reports whether s is a valid device id: 3–64 chars of [a-z0-9-].
func ValidID(s string) bool { return nameRE.MatchString(s) }

// ValidGroup reports whether s is a valid group name (same alphabet as ids).
// "all" is valid and every device is always a member.
func ValidGroup(s string) bool { return s == "all" || nameRE.MatchString(s) }

// Topics builds the topic names of one device under a root.
type Topics struct {
	Root string
	ID   string
}

func (t Topics) dev(leaf string) string { return t.Root + "/dev/" + t.ID + "/" + leaf }

// Cmd is the device's command topic.
func (t Topics) Cmd() string { return t.dev("cmd") }

// Ack is where the device answers every command.
func (t Topics) Ack() string { return t.dev("ack") }

// Status is the retained online/offline document (and the MQTT will).
func (t Topics) Status() string { return t.dev("status") }

// State is the retained full-state document.
func (t Topics) State() string { return t.dev("state") }

// Tele is the periodic telemetry topic.
func (t Topics) Tele() string { return t.dev("tele") }

// Event is the topic for alarms, log records and errors.
func (t Topics) Event() string { return t.dev("event") }

// GroupCmd is the command topic of a group.
func (t Topics) GroupCmd(group string) string { return t.Root + "/grp/" + group + "/cmd" }

// Live is the topic of a live-audio channel.
func (t Topics) Live(channel string) string { return t.Root + "/live/" + channel }

// DevTopic is any device topic under root with a wildcard id, e.g. for
// loaxactl watch: DevTopic(root, "+", "#").
func DevTopic(root, id, leaf string) string { return root + "/dev/" + id + "/" + leaf }

// ParseDevTopic splits root/dev/{id}/{leaf}. ok is false for other topics.
func ParseDevTopic(root, topic string) (id, leaf string, ok bool) {
	rest, found := strings.CutPrefix(topic, root+"/dev/")
	if !found {
		return "", "", false
	}
	id, leaf, found = strings.Cut(rest, "/")
	if !found || id == "" || leaf == "" || strings.Contains(leaf, "/") {
		return "", "", false
	}
	return id, leaf, true
}

// CheckRoot validates a configured topic root: non-empty, no wildcards, no
// leading or trailing slash.
func CheckRoot(root string) error {
	switch {
	case root == "":
		return fmt.Errorf("topic root is empty")
	case strings.ContainsAny(root, "+#"):
		return fmt.Errorf("topic root %q contains an MQTT wildcard", root)
	case strings.HasPrefix(root, "/") || strings.HasSuffix(root, "/"):
		return fmt.Errorf("topic root %q must not start or end with '/'", root)
	}
	return nil
}
