package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/loaxa/loaxa/agent/console"
	"github.com/loaxa/loaxa/agent/wire"
)

// Defaults of `loaxactl provision`.
const (
	DefaultCertDays       = 3650
	DefaultConsoleTimeout = 60 * time.Second // one console command (a broker test waits for the link)
	DefaultConsoleWait    = 90 * time.Second // the console back after the link (or agent) restarts
)

const provisionUsage = `usage: loaxactl provision --port DEVICE --file POLE.json [flags]

Provisions a pole through its serial console: logs in if the console has a
password, sends the whole configuration of POLE.json (validated and applied
by the pole atomically), waits for the pole to come back, tests every part,
and prints a checklist. Exit status 0 when every check passed, 1 when one
failed, 2 usage error, 4 the console did not answer.

POLE.json is the pole's configuration as JSON, e.g.
  {"id":"xa-hung-loc-01","groups":["hung-loc"],
   "mqtt":{"broker":"tls://mqtt.nghean.example:8883"},
   "console":{"password":"a technician password"}}
(or {"config":{...},"files":{"mqtt.ca_file":"-----BEGIN..."}}). A plain
console password is hashed here; it never travels in clear.

flags:
`

// provisionOptions are the flags of `loaxactl provision`.
type provisionOptions struct {
	port, file, passwordFile string
	baud                     int
	caCert, caKey            string
	certDays                 int
	brokerCA                 string
	clientCert, clientKey    string
	noModem                  bool
	timeout, wait            time.Duration
}

func (c *CLI) provision(ctx context.Context, args []string) int {
	var o provisionOptions
	fs := flag.NewFlagSet("loaxactl provision", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.port, "port", "", "serial `DEVICE` of the console cable, e.g. /dev/ttyUSB0 (required)")
	fs.IntVar(&o.baud, "baud", console.DefaultBaud, "serial speed (8N1)")
	fs.StringVar(&o.file, "file", "", "the pole's configuration, JSON (required)")
	fs.StringVar(&o.passwordFile, "password-file", "", "file holding the console password in force (default: ask)")
	fs.StringVar(&o.caCert, "ca-cert", "", "provincial CA certificate (PEM): generate a client key and certificate for the pole")
	fs.StringVar(&o.caKey, "ca-key", "", "provincial CA private key (PEM), with --ca-cert")
	fs.IntVar(&o.certDays, "cert-days", DefaultCertDays, "validity of a generated certificate, in days")
	fs.StringVar(&o.brokerCA, "broker-ca", "", "CA certificate (PEM) the pole checks the broker with: installed as mqtt.ca_file")
	fs.StringVar(&o.clientCert, "client-cert", "", "an existing client certificate (PEM) for the pole, with --client-key")
	fs.StringVar(&o.clientKey, "client-key", "", "the key (PEM) of --client-cert")
	fs.BoolVar(&o.noModem, "no-modem", false, "the pole has no 4G modem (Ethernet or Wi-Fi): skip the modem check")
	fs.DurationVar(&o.timeout, "timeout", DefaultConsoleTimeout, "how long one console command may take")
	fs.DurationVar(&o.wait, "wait", DefaultConsoleWait, "how long to wait for the console after the pole restarts its link")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(c.Stdout, provisionUsage)
			fs.SetOutput(c.Stdout)
			fs.PrintDefaults()
			return ExitOK
		}
		return c.usageError("provision: %v", err)
	}
	if fs.NArg() > 0 {
		return c.usageError("provision takes flags only, got %q", fs.Arg(0))
	}
	doc, newPassword, err := c.provisionDoc(&o)
	if err != nil {
		return c.usageError("provision: %v", err)
	}
	port, err := console.OpenSerial(o.port, o.baud)
	if err != nil {
		fmt.Fprintf(c.Stderr, "loaxactl: %v\n", err)
		return ExitUnavailable
	}
	cl := console.NewClient(port, c.Clock)
	defer cl.Close()
	p := &provisioner{c: c, o: &o, cl: cl}
	return p.run(ctx, doc, newPassword)
}

// provisionDoc reads POLE.json and the certificate flags into the
// document `provision` takes. newPassword is the plain console password the
// document sets, if it gave one (to log in again after the restart).
func (c *CLI) provisionDoc(o *provisionOptions) (doc console.ProvisionDoc, newPassword string, err error) {
	switch {
	case o.port == "":
		return doc, "", errors.New("--port is required (the console cable, e.g. /dev/ttyUSB0)")
	case o.file == "":
		return doc, "", errors.New("--file is required (the pole's configuration, JSON)")
	case (o.caCert == "") != (o.caKey == ""):
		return doc, "", errors.New("--ca-cert and --ca-key go together")
	case (o.clientCert == "") != (o.clientKey == ""):
		return doc, "", errors.New("--client-cert and --client-key go together")
	case o.caCert != "" && o.clientCert != "":
		return doc, "", errors.New("give either --ca-cert/--ca-key (generate a certificate) or --client-cert/--client-key, not both")
	case o.certDays < 1 || o.certDays > 36500:
		return doc, "", fmt.Errorf("--cert-days must be 1..36500, got %d", o.certDays)
	case o.timeout <= 0 || o.wait <= 0:
		return doc, "", errors.New("--timeout and --wait must be positive")
	}
	data, err := os.ReadFile(o.file)
	if err != nil {
		return doc, "", fmt.Errorf("--file: %w", err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil || top == nil {
		return doc, "", fmt.Errorf("--file %s: not a JSON object (%v)", o.file, err)
	}
	if _, wrapped := top["config"]; wrapped {
		d := json.NewDecoder(bytes.NewReader(data))
		d.DisallowUnknownFields()
		if err := d.Decode(&doc); err != nil {
			return doc, "", fmt.Errorf("--file %s: %v (expected {\"config\":{...},\"files\":{...}})", o.file, err)
		}
		if err := json.Unmarshal(doc.Config, &top); err != nil || top == nil {
			return doc, "", fmt.Errorf("--file %s: \"config\" must be an object", o.file)
		}
	}
	var id string
	if err := json.Unmarshal(top["id"], &id); err != nil || !wire.ValidID(id) {
		return doc, "", fmt.Errorf("--file %s: \"id\" must be the pole's device id (3-64 characters of a-z, 0-9, '-')", o.file)
	}
	// The console password is hashed here: in clear it would cross the
	// cable and sit in the terminal's scrollback.
	if raw, ok := top["console"]; ok {
		var table map[string]json.RawMessage
		if err := json.Unmarshal(raw, &table); err != nil {
			return doc, "", fmt.Errorf("--file %s: \"console\" must be an object", o.file)
		}
		var pw string
		if err := json.Unmarshal(table["password"], &pw); err == nil && pw != "" && !console.IsHash(pw) {
			h, err := console.HashPassword(pw)
			if err != nil {
				return doc, "", fmt.Errorf("--file %s: console.password: %w", o.file, err)
			}
			table["password"], _ = json.Marshal(h)
			top["console"], _ = json.Marshal(table)
			newPassword = pw
		}
	}
	doc.Config, _ = json.Marshal(top)
	if doc.Files == nil {
		doc.Files = map[string]string{}
	}
	readPEM := func(flagName, path, key string) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("%s: %w", flagName, err)
		}
		doc.Files[key] = string(b)
		return nil
	}
	if o.brokerCA != "" {
		if err := readPEM("--broker-ca", o.brokerCA, "mqtt.ca_file"); err != nil {
			return doc, "", err
		}
	}
	if o.clientCert != "" {
		if err := readPEM("--client-cert", o.clientCert, "mqtt.cert_file"); err != nil {
			return doc, "", err
		}
		if err := readPEM("--client-key", o.clientKey, "mqtt.key_file"); err != nil {
			return doc, "", err
		}
	}
	if o.caCert != "" {
		cert, key, err := poleCert(id, o.caCert, o.caKey, c.Clock.Now(), o.certDays)
		if err != nil {
			return doc, "", err
		}
		doc.Files["mqtt.cert_file"], doc.Files["mqtt.key_file"] = string(cert), string(key)
	}
	if len(doc.Files) == 0 {
		doc.Files = nil
	}
	return doc, newPassword, nil
}

// provisioner runs one provisioning session over a console Client.
type provisioner struct {
	c  *CLI
	o  *provisionOptions
	cl *console.Client
	// password is the console password that worked last, for logging in
	// again after the pole restarted.
	password string
}

// bannerDoc is the result of the console's banner command.
type bannerDoc struct {
	Banner  console.Banner `json:"banner"`
	Console struct {
		PasswordSet bool `json:"password_set"`
		LoggedIn    bool `json:"logged_in"`
	} `json:"console"`
}

// check is one line of the checklist.
type check struct {
	part, status, detail string
}

func (p *provisioner) run(ctx context.Context, doc console.ProvisionDoc, newPassword string) int {
	c := p.c
	bn, code := p.reach(ctx, p.o.timeout, false)
	if code != ExitOK {
		return code
	}
	fmt.Fprintf(c.Stderr, "console on %s: pole %q, firmware %s\n", p.o.port, bn.Banner.ID, bn.Banner.Version)
	if code := p.login(ctx, bn, ""); code != ExitOK {
		return code
	}
	rep, err := p.cl.Do(ctx, p.o.timeout, "provision", doc)
	if err != nil {
		fmt.Fprintf(c.Stderr, "loaxactl: provision: %v\n", err)
		return ExitUnavailable
	}
	if err := rep.Err(); err != nil {
		fmt.Fprintf(c.Stderr, "loaxactl: the pole refused the configuration, nothing changed: %v\n", err)
		return ExitFailed
	}
	var pr console.ProvisionReport
	_ = json.Unmarshal(rep.Result, &pr)
	fmt.Fprintf(c.Stderr, "provisioned pole %s (%d key(s) changed)\n", pr.ID, len(pr.Changed))
	if newPassword != "" {
		p.password = newPassword
	}
	if pr.Restart {
		fmt.Fprintf(c.Stderr, "waiting for the pole to restart its link...\n")
	}
	// The console answers as soon as loaxad starts, from the file alone,
	// before the agent runs: its tests would find nothing to test.
	bn, code = p.reach(ctx, p.o.wait, true)
	if code != ExitOK {
		return code
	}
	if code := p.login(ctx, bn, newPassword); code != ExitOK {
		return code
	}
	checks := p.tests(ctx, bn.Banner)
	return p.report(pr.ID, checks)
}

// reach waits for the console to answer its banner, trying again for up
// to total (the pole may be restarting). With agent, it also waits until
// the agent runs, and past total goes on with the banner it has (the
// tests then say what cannot run).
func (p *provisioner) reach(ctx context.Context, total time.Duration, agent bool) (*bannerDoc, int) {
	deadline := p.c.Clock.Now().Add(total)
	try := min(5*time.Second, total)
	for {
		rep, err := p.cl.Do(ctx, try, "banner", nil)
		if err == nil && rep.OK {
			var bn bannerDoc
			if err := json.Unmarshal(rep.Result, &bn); err != nil {
				fmt.Fprintf(p.c.Stderr, "loaxactl: the console's banner does not parse: %v\n", err)
				return nil, ExitUnavailable
			}
			if !agent || !bn.Banner.NotRunning || !p.c.Clock.Now().Before(deadline) {
				return &bn, ExitOK
			}
			t := p.c.Clock.NewTimer(250 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ExitInterrupted
			case <-t.C():
			}
			continue
		}
		if ctx.Err() != nil {
			return nil, ExitInterrupted
		}
		if err != nil && !errors.Is(err, console.ErrTimeout) || !p.c.Clock.Now().Before(deadline) {
			if err == nil {
				err = rep.Err()
			}
			fmt.Fprintf(p.c.Stderr, "loaxactl: no console answers on %s: %v (is the cable in, and the speed %d?)\n", p.o.port, err, p.o.baud)
			return nil, ExitUnavailable
		}
	}
}

// login logs in when the console has a password: with the password that
// worked before, the one just provisioned, the --password-file, or asked.
func (p *provisioner) login(ctx context.Context, bn *bannerDoc, provisioned string) int {
	if !bn.Console.PasswordSet || bn.Console.LoggedIn {
		return ExitOK
	}
	var candidates []string
	for _, pw := range []string{provisioned, p.password} {
		if pw != "" && !slices.Contains(candidates, pw) {
			candidates = append(candidates, pw)
		}
	}
	if len(candidates) == 0 {
		pw, err := p.askPassword()
		if err != nil {
			fmt.Fprintf(p.c.Stderr, "loaxactl: %v\n", err)
			return ExitUsage
		}
		candidates = []string{pw}
	}
	var last error
	for _, pw := range candidates {
		rep, err := p.cl.Do(ctx, p.o.timeout, "login", map[string]string{"password": pw})
		if err != nil {
			fmt.Fprintf(p.c.Stderr, "loaxactl: login: %v\n", err)
			return ExitUnavailable
		}
		if rep.OK {
			p.password = pw
			return ExitOK
		}
		last = rep.Err()
	}
	fmt.Fprintf(p.c.Stderr, "loaxactl: login refused: %v\n", last)
	return ExitFailed
}

// askPassword reads the console password from --password-file, or asks on
// the terminal without echo.
func (p *provisioner) askPassword() (string, error) {
	if p.o.passwordFile != "" {
		b, err := os.ReadFile(p.o.passwordFile)
		if err != nil {
			return "", fmt.Errorf("--password-file: %w", err)
		}
		pw, _, _ := strings.Cut(string(b), "\n")
		return strings.TrimSuffix(pw, "\r"), nil
	}
	return p.c.readSecret("console password: ")
}

// tests runs the technician tests: every zone relay, the amplifier relay,
// the tone, the modem and the broker.
func (p *provisioner) tests(ctx context.Context, bn console.Banner) []check {
	type test struct {
		part, cmd string
		args      any
	}
	var list []test
	for _, z := range slices.Sorted(maps.Keys(bn.Zones)) {
		list = append(list, test{"relay " + z, "test.relay", map[string]string{"name": z}})
	}
	list = append(list,
		test{"amplifier", "test.relay", map[string]string{"name": "amp"}},
		test{"tone", "test.tone", nil},
		test{"modem", "test.modem", nil},
		test{"broker", "test.broker", nil})
	var out []check
	for _, t := range list {
		fmt.Fprintf(p.c.Stderr, "testing %s...\n", t.part)
		rep, err := p.cl.Do(ctx, p.o.timeout, t.cmd, t.args)
		switch {
		case err != nil:
			out = append(out, check{t.part, "FAIL", err.Error()})
		case rep.OK:
			var tr console.TestReport
			_ = json.Unmarshal(rep.Result, &tr)
			out = append(out, check{t.part, "PASS", tr.Detail})
		case t.part == "modem" && p.o.noModem && rep.Error != nil && rep.Error.Code == wire.CodeUnsupported:
			out = append(out, check{t.part, "SKIP", rep.Error.Message})
		default:
			out = append(out, check{t.part, "FAIL", rep.Err().Error()})
		}
	}
	return out
}

// report prints the checklist and returns the exit status.
func (p *provisioner) report(id string, checks []check) int {
	fmt.Fprintf(p.c.Stdout, "pole %s on %s\n", id, p.o.port)
	tw := tabwriter.NewWriter(p.c.Stdout, 0, 4, 2, ' ', 0)
	failed := 0
	for _, ch := range checks {
		if ch.status == "FAIL" {
			failed++
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", ch.status, ch.part, oneLine(ch.detail))
	}
	tw.Flush()
	if failed > 0 {
		fmt.Fprintf(p.c.Stdout, "%d of %d checks FAILED\n", failed, len(checks))
		return ExitFailed
	}
	fmt.Fprintf(p.c.Stdout, "all %d checks passed\n", len(checks))
	return ExitOK
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 100 {
		return string(r[:100]) + "…"
	}
	return s
}

// readSecret asks for a secret on stderr and reads one line from stdin,
// without echo when stdin is a terminal.
func (c *CLI) readSecret(prompt string) (string, error) {
	in := c.Stdin
	if in == nil {
		in = os.Stdin
	}
	fmt.Fprint(c.Stderr, prompt)
	if f, ok := in.(*os.File); ok {
		if restore, ok := noEcho(int(f.Fd())); ok {
			defer fmt.Fprintln(c.Stderr) // the Enter was not echoed
			defer restore()
		}
	}
	var line []byte
	b := make([]byte, 1)
	for {
		n, err := in.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				break
			}
			if len(line) < console.MaxPasswordLen+2 {
				line = append(line, b[0])
			}
		}
		if err != nil {
			if len(line) > 0 && errors.Is(err, io.EOF) {
				break
			}
			return "", fmt.Errorf("read the password: %w", err)
		}
	}
	return strings.TrimSuffix(string(line), "\r"), nil
}
