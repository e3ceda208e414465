// Package playargs is the argument object of the play command and its
// checks, shared by the command and by the broadcast schedule (whose items
// take the same fields), so the two cannot drift apart.
package playargs
