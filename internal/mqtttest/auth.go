package mqtttest

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/loaxa/loaxa/internal/testenv"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Options configure a broker that authenticates its clients, for tests of
// access control (scripts/mosquitto-acl.example). The zero value is the
// broker of Start: anonymous clients, no ACL.
type Options struct {
	// Users are user names and their passwords, written into a
	// password_file with mosquitto_passwd. When set, anonymous clients are
	// refused.
	Users map[string]string
	// ACLFile is a mosquitto acl_file, used as it is.
	ACLFile string
	// Listener holds extra lines for the broker's listener, e.g.
	// "use_username_as_clientid true".
	Listener []string
	// MaxQueued is mosquitto's max_queued_messages: QoS 1 messages kept
	// for a client beyond its in-flight window; 0 is 1000 (mosquitto's
	// default), -1 no limit. A burst test needs -1, or it measures the
	// broker's drops rather than the agent.
	MaxQueued int
}

// StartWith starts mosquitto as Start does, with authentication and access
// control as o says. It fails the test if mosquitto or mosquitto_passwd
// (Debian package "mosquitto") is missing.
func StartWith(t testing.TB, o Options) *Broker {
	t.Helper()
	return startWith(t, o)
}

// ClientAs returns ClientOptions for a client that logs in as user.
func ClientAs(b *Broker, id, user, password string) *mqtt.ClientOptions {
	return ClientOptions(b, id).SetUsername(user).SetPassword(password)
}

func (b *Broker) passwordFile() string { return filepath.Join(b.dir, "passwd") }

// prepareAuth writes the password file before the broker starts.
func (b *Broker) prepareAuth() error {
	if len(b.opts.Users) == 0 {
		return nil
	}
	bin := testenv.NeedTool(b.t, "mosquitto_passwd", "mosquitto")
	if err := os.WriteFile(b.passwordFile(), nil, 0o600); err != nil {
		return err
	}
	for _, u := range slices.Sorted(maps.Keys(b.opts.Users)) {
		// -b takes the password on the command line: fine for a test's
		// throw-away accounts, never for real ones.
		out, err := exec.Command(bin, "-b", b.passwordFile(), u, b.opts.Users[u]).CombinedOutput()
		if err != nil {
			return fmt.Errorf("mosquitto_passwd %s: %v: %s", u, err, out)
		}
	}
	return nil
}

// authConfig is the authentication part of mosquitto.conf, written right
// after the listener line so that listener options apply to it.
func (b *Broker) authConfig() string {
	var c strings.Builder
	for _, l := range b.opts.Listener {
		c.WriteString(l + "\n")
	}
	if len(b.opts.Users) > 0 {
		c.WriteString("allow_anonymous false\n")
		fmt.Fprintf(&c, "password_file %s\n", b.passwordFile())
	} else {
		c.WriteString("allow_anonymous true\n")
	}
	if b.opts.ACLFile != "" {
		fmt.Fprintf(&c, "acl_file %s\n", b.opts.ACLFile)
	}
	return c.String()
}
