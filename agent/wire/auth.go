package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// signV2 starts every v2 signed string, so a v1 signature can never pass
// as a v2 one (nor the reverse).
const signV2 = "loaxa-v2"

// Sign computes the "auth" field of a command (protocol v2 signatures):
//
//	hex(HMAC-SHA256(key, "loaxa-v2" "\n" target "\n" id "\n" cmd "\n" ts "\n" args))
//
// target is where the command is published, under the topic root and
// without "/cmd": "dev/ID" for one pole, "grp/GROUP" for a group (see
// Target). args is the exact bytes of the "args" value as sent (empty when
// absent). The target is covered so a command signed for one pole or group
// runs nowhere else; ts so it cannot be replayed later; id so it cannot be
// replayed as a new command within the skew window (the pole also
// remembers signed ids until their ts leaves that window).
func Sign(key []byte, target, id, cmd string, ts int64, args []byte) string {
	m := hmac.New(sha256.New, key)
	for _, part := range []string{signV2, target, id, cmd, strconv.FormatInt(ts, 10)} {
		m.Write([]byte(part))
		m.Write([]byte{'\n'})
	}
	m.Write(args)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks a v2 signature of c for target, in constant time.
func Verify(key []byte, target string, c *Command, sig string) bool {
	want := Sign(key, target, c.ID, c.Cmd, c.TS, c.Args)
	return hmac.Equal([]byte(want), []byte(sig))
}

// Signature is the v1 signature, which does not cover the target:
// hex(HMAC-SHA256(key, id "\n" cmd "\n" ts "\n" args)). Poles refuse it
// unless auth.legacy_signatures allows it while operators migrate.
func Signature(key []byte, id, cmd string, ts int64, args []byte) string {
	m := hmac.New(sha256.New, key)
	for _, part := range []string{id, cmd, strconv.FormatInt(ts, 10)} {
		m.Write([]byte(part))
		m.Write([]byte{'\n'})
	}
	m.Write(args)
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyLegacy checks a v1 signature, in constant time.
func VerifyLegacy(key []byte, c *Command, sig string) bool {
	want := Signature(key, c.ID, c.Cmd, c.TS, c.Args)
	return hmac.Equal([]byte(want), []byte(sig))
}

// Target returns the signed target of a command topic under root:
// "dev/ID" or "grp/GROUP"; ok is false for any other topic.
func Target(root, topic string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, root+"/")
	if !ok {
		return "", false
	}
	target, ok := strings.CutSuffix(rest, "/cmd")
	if !ok {
		return "", false
	}
	kind, name, ok := strings.Cut(target, "/")
	if !ok || (kind != "dev" && kind != "grp") || name == "" || strings.Contains(name, "/") {
		return "", false
	}
	return target, true
}

// DevTarget is the signed target of a device.
func DevTarget(id string) string { return "dev/" + id }

// GroupTarget is the signed target of a group.
func GroupTarget(group string) string { return "grp/" + group }
