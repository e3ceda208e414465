package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/internal/clock"
)

// Exit statuses of loaxactl. Scripts depend on them, so they only grow.
const (
	ExitOK          = 0
	ExitFailed      = 1   // a command was answered ok:false
	ExitUsage       = 2   // bad flags or arguments
	ExitTimeout     = 3   // no ack in time
	ExitUnavailable = 4   // broker unreachable, refused us, or dropped us
	ExitInterrupted = 130 // Ctrl-C while waiting for an ack (128+SIGINT)
)

// Defaults of the flags.
const (
	DefaultBroker       = "tcp://127.0.0.1:1883"
	DefaultTimeout      = 10 * time.Second // one device
	DefaultGroupTimeout = 5 * time.Second  // a group: there is no count to wait for
	DefaultTTL          = 30 * time.Second
)

// Environment variables that supply defaults, so secrets need not appear on
// the command line (where ps and shell history would show them).
const (
	EnvBroker   = "LOAXA_BROKER"
	EnvPassword = "LOAXA_PASSWORD"
	EnvKey      = "LOAXA_KEY"
)

// CLI is one loaxactl invocation's environment. The zero value of every
// field except Stdout and Stderr means "the real one".
type CLI struct {
	Stdout, Stderr io.Writer
	// Stdin is what `live CHANNEL -` sends; nil means os.Stdin.
	Stdin io.Reader
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// Clock stamps commands (ts), times the wait for acks and tells watch
	// what "today" is; nil means clock.Real.
	Clock clock.Clock
	// Location is the time zone of printed times; nil means time.Local.
	Location *time.Location
	// NewID makes command ids; nil means "ctl-" and 12 random hex digits.
	NewID func() string

	// onAck, when set, is called by a group send after it recorded each
	// ack, so a test knows when to advance its fake clock past the timeout.
	onAck func(n int)
}

// Run runs loaxactl with args (without the program name), writing results
// to stdout and diagnostics to stderr, and returns the exit status. ctx
// ending (Ctrl-C) stops a watch cleanly and interrupts a send.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return (&CLI{Stdout: stdout, Stderr: stderr}).Run(ctx, args)
}

// options are the parsed flags.
type options struct {
	broker   string
	root     string
	user     string
	password string
	keyHex   string
	key      []byte
	timeout  time.Duration
	ttl      time.Duration
	json     bool
	group    string
	ca       string
	cert     string
	certKey  string
	live     liveOptions
	release  releaseOptions
}

const usageText = `usage: loaxactl [flags] send DEVICE CMD [JSON-ARGS]
       loaxactl [flags] send --group GROUP CMD [JSON-ARGS]
       loaxactl [flags] watch [DEVICE]
       loaxactl [flags] live CHANNEL FILE|-
       loaxactl provision --port DEVICE --file POLE.json [flags]  (-h for more)
       loaxactl console --port DEVICE                             (-h for more)
       loaxactl release keygen --out NAME
       loaxactl release sign --signing-key FILE --version V --arch A --url URL [...] BINARY
       loaxactl [flags] release publish MANIFEST DEVICE | --group GROUP [--percent P[,P]]
       loaxactl [flags] release status [DEVICE...] [--group GROUP]

send   publishes a command to one pole and prints its ack, or to a group and
       prints a table of the acks that arrive before the timeout.
       JSON-ARGS is a JSON object, e.g. '{"on":["z1"]}'.
watch  prints what poles report (status, state, tele, event, ack), one line
       per message, until Ctrl-C. DEVICE defaults to every pole.
live   sends a WAV or MP3 FILE, or raw PCM (--format s16le; - reads stdin),
       to loaxa/v1/live/CHANNEL as live Opus frames in real time, and
       ends the talk when the input ends or on Ctrl-C. --play GROUP (or
       dev/DEVICE) first sends the play (--sync: the poles play in step)
       and talks at once: frames wait for the poles' acks, then go out.
release
       over-the-air updates (docs/ota.md): keygen makes a signing key pair,
       sign writes a signed manifest for a binary, publish sends it to a
       pole or a group (--percent: a staged rollout that stops when more
       than --max-failures poles of a stage fail), status shows where each
       pole stands.

examples:
  loaxactl send pole-0042 ping
  loaxactl send pole-0042 volume '{"level":60}'
  loaxactl send --group all zones '{"all":false}'
  loaxactl watch pole-0042
  loaxactl live commune-hall announcement.mp3
  loaxactl live --play xa-hung-loc --sync commune-hall announcement.mp3
  arecord -f S16_LE -r 48000 -c 1 | loaxactl live commune-hall --format s16le -

flags (before or after the command):
`

const exitText = `
environment: LOAXA_BROKER, LOAXA_PASSWORD, LOAXA_KEY supply --broker,
--password and --key.
exit status: 0 ok, 1 ok:false, 2 usage error, 3 no ack in time,
4 broker unreachable or connection lost, 130 interrupted.
`

// Run runs loaxactl with args, in c's environment, and returns the exit
// status.
func (c *CLI) Run(ctx context.Context, args []string) int {
	c.defaults()
	if len(args) > 0 { // serial commands: their own flags, no broker
		switch args[0] {
		case "provision":
			return c.provision(ctx, args[1:])
		case "console":
			return c.console(ctx, args[1:])
		}
	}
	var o options
	fs := c.flags(&o)
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		c.usage(c.Stdout, fs)
		return ExitOK
	}
	if err != nil {
		return c.usageError("%v", err)
	}
	if len(pos) == 0 {
		c.usage(c.Stderr, fs)
		return ExitUsage
	}
	if pos[0] == "help" { // before finish: help works even with a bad $LOAXA_KEY
		c.usage(c.Stdout, fs)
		return ExitOK
	}
	if err := c.finish(fs, &o); err != nil {
		return c.usageError("%v", err)
	}
	switch cmd, rest := pos[0], pos[1:]; cmd {
	case "send":
		return c.send(ctx, &o, rest)
	case "live":
		return c.live(ctx, &o, rest)
	case "release":
		return c.release(ctx, &o, rest)
	case "watch":
		if o.group != "" {
			return c.usageError("--group is for send; watch takes a DEVICE")
		}
		return c.watch(ctx, &o, rest)
	default:
		return c.usageError("unknown command %q: expected send, watch, live or release", cmd)
	}
}

func (c *CLI) defaults() {
	if c.Getenv == nil {
		c.Getenv = os.Getenv
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.Location == nil {
		c.Location = time.Local
	}
	if c.NewID == nil {
		c.NewID = func() string { return "ctl-" + randomHex(6) }
	}
}

func (c *CLI) flags(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("loaxactl", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported once, by usageError
	fs.StringVar(&o.broker, "broker", "", "broker URL: tcp://, tls:// or ssl://host:port (default $"+EnvBroker+" or "+DefaultBroker+")")
	fs.StringVar(&o.root, "root", wire.DefaultRoot, "topic root")
	fs.StringVar(&o.user, "user", "", "broker user name")
	// The secrets have no flag default: PrintDefaults would print it.
	fs.StringVar(&o.password, "password", "", "broker password (default $"+EnvPassword+")")
	// Parsed in finish, not by a flag.Func: flag's error would echo the key.
	fs.StringVar(&o.keyHex, "key", "", "`hex` HMAC key: sign commands with an \"auth\" field (default $"+EnvKey+")")
	fs.DurationVar(&o.timeout, "timeout", 0, "how long to wait for acks (default 10s, 5s for a group)")
	fs.DurationVar(&o.ttl, "ttl", DefaultTTL, "command time-to-live: a pole that gets it later answers expired (0: none)")
	fs.BoolVar(&o.json, "json", false, "print raw JSON (one document per line)")
	fs.StringVar(&o.group, "group", "", "send to this group instead of one DEVICE (\"all\" is every pole)")
	fs.StringVar(&o.ca, "ca", "", "CA certificate file (PEM) for a tls:// broker (default: system roots)")
	fs.StringVar(&o.cert, "cert", "", "client certificate file (PEM) for a tls:// broker")
	fs.StringVar(&o.certKey, "cert-key", "", "client certificate key file (PEM)")
	o.live.register(fs)
	o.release.register(fs)
	return fs
}

// finish applies environment defaults and checks flag combinations.
func (c *CLI) finish(fs *flag.FlagSet, o *options) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["broker"] {
		o.broker = c.Getenv(EnvBroker)
		if o.broker == "" {
			o.broker = DefaultBroker
		}
	}
	if !set["password"] {
		o.password = c.Getenv(EnvPassword)
	}
	keyFrom := "--key"
	if !set["key"] {
		o.keyHex, keyFrom = c.Getenv(EnvKey), "$"+EnvKey
	}
	if o.keyHex != "" {
		k, err := parseKey(o.keyHex)
		if err != nil {
			return fmt.Errorf("%s: %w", keyFrom, err)
		}
		o.key = k
	}
	if err := wire.CheckRoot(o.root); err != nil {
		return fmt.Errorf("--root: %w", err)
	}
	if set["timeout"] && o.timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, got %v", o.timeout)
	}
	if o.ttl < 0 {
		return fmt.Errorf("--ttl must not be negative, got %v", o.ttl)
	}
	if o.ttl%time.Millisecond != 0 {
		return fmt.Errorf("--ttl must be whole milliseconds, got %v", o.ttl)
	}
	return checkBroker(o)
}

func parseKey(s string) ([]byte, error) {
	k, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		// err is not wrapped: it quotes the offending digit of a secret.
		return nil, errors.New("the key must be hex digits, as in the agent's auth.command_key")
	}
	if len(k) < 16 {
		return nil, fmt.Errorf("the key is %d bytes; expected at least 16 (32 hex digits)", len(k))
	}
	return k, nil
}

func (c *CLI) usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, usageText)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	fmt.Fprint(w, exitText)
}

func (c *CLI) usageError(format string, a ...any) int {
	fmt.Fprintf(c.Stderr, "loaxactl: "+format+"\n", a...)
	fmt.Fprintln(c.Stderr, "run `loaxactl -h` for usage")
	return ExitUsage
}

// parseInterleaved parses flags anywhere among the positional arguments
// (`loaxactl send pole-1 ping --json` reads naturally), which flag.Parse
// alone does not allow. Everything after "--" is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
