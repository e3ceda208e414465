package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// Signature computes the "auth" field of a command when the device has a
// command key: hex(HMAC-SHA256(key, id "\n" cmd "\n" ts "\n" args)), where
// args is the exact bytes of the "args" value as sent (empty when absent).
// The ts is covered so a captured command cannot be replayed later; the id
// is covered so it cannot be replayed as a new command inside the skew window
// (the agent also refuses a repeated id).
func Signature(key []byte, id, cmd string, ts int64, args []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'\n'})
	m.Write([]byte(cmd))
	m.Write([]byte{'\n'})
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'\n'})
	m.Write(args)
	return hex.EncodeToString(m.Sum(nil))
}

// VerifySignature checks sig in constant time.
func VerifySignature(key []byte, c *Command, sig string) bool {
	want := Signature(key, c.ID, c.Cmd, c.TS, c.Args)
	return hmac.Equal([]byte(want), []byte(sig))
}
