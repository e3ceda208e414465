package console

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/internal/atomicfile"
)

// FileKeys are the configuration keys whose files a provisioning document
// may carry, with the base name each is installed under.
var FileKeys = map[string]string{
	"mqtt.ca_file":   "ca",
	"mqtt.cert_file": "client-cert",
	"mqtt.key_file":  "client-key",
}

// MaxFileSize bounds one PEM document of a provisioning document.
const MaxFileSize = 16 << 10

// ProvisionDoc is the provisioning document as it travels: the args of
// `provision`, on one line.
type ProvisionDoc struct {
	// Config is the whole configuration, nested as its JSON form.
	Config json.RawMessage `json:"config"`
	// Files are PEM documents as strings, keyed by FileKeys.
	Files map[string]string `json:"files,omitempty"`
}

// parseProvisioning checks a provisioning document completely, before the
// backend sees it: a malformed one changes nothing. A plain console
// password in it is hashed with iter iterations.
func parseProvisioning(args json.RawMessage, iter int) (Provisioning, *wire.Error) {
	var doc ProvisionDoc
	if e := wire.DecodeArgs(args, &doc); e != nil {
		return Provisioning{}, e
	}
	var cfg map[string]json.RawMessage
	if len(doc.Config) == 0 || json.Unmarshal(doc.Config, &cfg) != nil || cfg == nil {
		return Provisioning{}, wire.Errf(wire.CodeBadArgs, `"config" must be the whole configuration as a JSON object, e.g. {"id":"pole-1","mqtt":{"broker":"tls://host:8883"}}`)
	}
	var id string
	if raw, ok := cfg["id"]; !ok || json.Unmarshal(raw, &id) != nil || !wire.ValidID(id) {
		return Provisioning{}, wire.Errf(wire.CodeBadArgs, `config.id must be the pole's device id (3-64 characters of a-z, 0-9, '-')`)
	}
	if raw, ok := cfg["console"]; ok {
		out, err := hashInTable(raw, iter)
		if err != nil {
			return Provisioning{}, wire.Errf(wire.CodeBadArgs, "config: %v", err)
		}
		cfg["console"] = out
	}
	files, e := checkFiles(doc.Files)
	if e != nil {
		return Provisioning{}, e
	}
	return Provisioning{Config: mustJSON(cfg), Files: files}, nil
}

// checkFiles checks that every file is a PEM document of the right kind,
// and that a client certificate and its key belong together.
func checkFiles(in map[string]string) (map[string][]byte, *wire.Error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := map[string][]byte{}
	for _, k := range slices.Sorted(maps.Keys(in)) {
		if _, ok := FileKeys[k]; !ok {
			return nil, wire.Errf(wire.CodeBadArgs, "files: %q cannot be installed; expected %s", clip(k), quoted(slices.Sorted(maps.Keys(FileKeys))))
		}
		data := []byte(in[k])
		if len(data) > MaxFileSize {
			return nil, wire.Errf(wire.CodeBadArgs, "files.%s is %d bytes; at most %d", k, len(data), MaxFileSize)
		}
		var err error
		if k == "mqtt.key_file" {
			err = checkKeyPEM(data)
		} else {
			err = checkCertPEM(data)
		}
		if err != nil {
			return nil, wire.Errf(wire.CodeBadArgs, "files.%s: %v", k, err)
		}
		out[k] = data
	}
	cert, hasCert := out["mqtt.cert_file"]
	key, hasKey := out["mqtt.key_file"]
	if hasCert != hasKey {
		return nil, wire.Errf(wire.CodeBadArgs, "files: mqtt.cert_file and mqtt.key_file go together: give both or neither")
	}
	if hasCert {
		if _, err := tls.X509KeyPair(cert, key); err != nil {
			return nil, wire.Errf(wire.CodeBadArgs, "files: the client certificate and key do not belong together: %v", err)
		}
	}
	return out, nil
}

func checkCertPEM(data []byte) error {
	n := 0
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			if len(bytes.TrimSpace(rest)) > 0 && n == 0 {
				return errors.New("not a PEM document")
			}
			break
		}
		if b.Type != "CERTIFICATE" {
			return fmt.Errorf("a PEM block of type %q; expected CERTIFICATE", clip(b.Type))
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return fmt.Errorf("certificate %d: %v", n+1, err)
		}
		n++
	}
	if n == 0 {
		return errors.New("no PEM certificate in it")
	}
	return nil
}

// checkKeyPEM checks a private key without ever quoting it.
func checkKeyPEM(data []byte) error {
	b, _ := pem.Decode(data)
	if b == nil {
		return errors.New("not a PEM document")
	}
	var err error
	switch b.Type {
	case "PRIVATE KEY":
		_, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		_, err = x509.ParseECPrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		_, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	default:
		return fmt.Errorf("a PEM block of type %q; expected a private key", clip(b.Type))
	}
	if err != nil {
		return errors.New("the private key does not parse")
	}
	return nil
}

func quoted(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}

// InstallFiles writes the files of a provisioning document into dir, each
// atomically with mode 0600, under a name that depends on its content
// (client-cert-1a2b3c4d5e6f.pem): the files of the configuration in force
// are never overwritten, so a provisioning that fails later leaves the pole
// as it was. It returns the path of each key's file, to set in the
// configuration before validating and saving it. A file already there with
// the same content is not written again (flash wear). Call PruneFiles once
// the new configuration is saved.
func InstallFiles(dir string, files map[string][]byte) (map[string]string, error) {
	if len(files) == 0 {
		return map[string]string{}, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("console: install files: %w", err)
	}
	paths := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(files)) {
		base, ok := FileKeys[k]
		if !ok {
			return nil, fmt.Errorf("console: install files: %q is not a file key", k)
		}
		sum := sha256.Sum256(files[k])
		p := filepath.Join(dir, fmt.Sprintf("%s-%x.pem", base, sum[:6]))
		if _, err := atomicfile.WriteFile(p, files[k], 0o600); err != nil {
			return nil, fmt.Errorf("console: install %s: %w", k, err)
		}
		paths[k] = p
	}
	return paths, nil
}

var installedRE = regexp.MustCompile(`^(ca|client-cert|client-key)-[0-9a-f]{12}\.pem$`)

// PruneFiles removes the files InstallFiles made in dir that are not in
// keep (the paths the saved configuration names). Other files are left
// alone.
func PruneFiles(dir string, keep []string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("console: prune files: %w", err)
	}
	var errs []error
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if !installedRE.MatchString(e.Name()) || slices.Contains(keep, p) {
			continue
		}
		if err := os.Remove(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
