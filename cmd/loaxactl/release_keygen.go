package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/loaxa/loaxa/ota"
)

// releaseKeygen handles `release keygen --out NAME`: a new ed25519 key
// pair, NAME.key (private, mode 0600) and NAME.pub (public).
func (c *CLI) releaseKeygen(o *options, pos []string) int {
	r := &o.release
	if len(pos) != 0 {
		return c.usageError("release keygen takes no argument; name the files with --out NAME")
	}
	if r.out == "" {
		return c.usageError("release keygen needs --out NAME: it writes NAME.key and NAME.pub")
	}
	k, err := ota.GenerateKey()
	if err != nil {
		fmt.Fprintf(c.Stderr, "loaxactl: %v\n", err)
		return ExitFailed
	}
	priv, pub := r.out+".key", r.out+".pub"
	// Never overwrite a key: a lost private key cannot sign for the poles
	// that trust it.
	if err := writeNew(priv, k.MarshalText(), 0o600); err != nil {
		fmt.Fprintf(c.Stderr, "loaxactl: %v\n", err)
		return ExitFailed
	}
	pubText := fmt.Sprintf("%s\n", k.Public())
	if err := writeNew(pub, []byte(pubText), 0o644); err != nil {
		os.Remove(priv)
		fmt.Fprintf(c.Stderr, "loaxactl: %v\n", err)
		return ExitFailed
	}
	fmt.Fprintf(c.Stdout, "key %s\n", k.Public().KeyID())
	fmt.Fprintf(c.Stdout, "private key: %s (keep it offline; it signs releases)\n", priv)
	fmt.Fprintf(c.Stdout, "public key:  %s\n", pub)
	fmt.Fprintf(c.Stdout, "on the poles, in loaxa.toml:\n  [ota]\n  keys = [%q]\n", k.Public().String())
	return ExitOK
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists; not overwriting a key (choose another --out)", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
