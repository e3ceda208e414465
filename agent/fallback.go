package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/internal/atomicfile"
	"github.com/loaxa/loaxa/internal/clock"
)

// A config.set can change how the pole reaches its broker; a mistake
// there (a wrong host, a stale password) would cut the pole off until a
// truck comes. So the agent keeps the broker settings that last connected
// (DATA_DIR/mqtt-good.json, 0600: it holds the password) and, after a
// start with other settings that do not reach the broker within
// mqtt.fallback_after_s, goes back to them, saves them in the
// configuration file, and raises the alarm mqtt.fallback (sent once
// connected).

// brokerSettings are the settings that decide whether the pole connects.
type brokerSettings struct {
	Version  int      `json:"version"`
	Brokers  []string `json:"brokers"`
	Username string   `json:"username"`
	Password string   `json:"password"`
	CAFile   string   `json:"ca_file"`
	CertFile string   `json:"cert_file"`
	KeyFile  string   `json:"key_file"`
}

func settingsOf(m config.MQTT) brokerSettings {
	return brokerSettings{Version: 1, Brokers: m.AllBrokers(), Username: m.Username, Password: m.Password,
		CAFile: m.CAFile, CertFile: m.CertFile, KeyFile: m.KeyFile}
}

func (b brokerSettings) equal(o brokerSettings) bool {
	return slices.Equal(b.Brokers, o.Brokers) && b.Username == o.Username && b.Password == o.Password &&
		b.CAFile == o.CAFile && b.CertFile == o.CertFile && b.KeyFile == o.KeyFile
}

// apply writes these settings into an MQTT section.
func (b brokerSettings) apply(m *config.MQTT) {
	m.Broker = b.Brokers[0]
	m.Brokers = slices.Clone(b.Brokers[1:])
	m.Username, m.Password = b.Username, b.Password
	m.CAFile, m.CertFile, m.KeyFile = b.CAFile, b.CertFile, b.KeyFile
}

func goodPath(dataDir string) string { return filepath.Join(dataDir, "mqtt-good.json") }

func loadGood(dataDir string) (brokerSettings, bool) {
	var b brokerSettings
	data, err := os.ReadFile(goodPath(dataDir))
	if err != nil || json.Unmarshal(data, &b) != nil || b.Version != 1 || len(b.Brokers) == 0 {
		return b, false
	}
	return b, true
}

// fallback follows the trial of new broker settings. Owned by the Run
// goroutine.
type fallback struct {
	good    brokerSettings
	hasGood bool
	timer   clock.Timer
	c       <-chan time.Time
}

// startFallback arms the trial when the settings in force are not the
// last ones that connected.
func (a *Agent) startFallback() {
	a.fb.good, a.fb.hasGood = loadGood(a.cfg.DataDir)
	if !a.fb.hasGood || a.fb.good.equal(settingsOf(a.cfg.MQTT)) {
		return
	}
	d := time.Duration(a.cfg.MQTT.FallbackAfterS) * time.Second
	a.log.Info("new broker settings on trial", "brokers", redactAll(a.cfg.MQTT.AllBrokers()), "fallback_after", d)
	a.fb.timer = a.clk.NewTimer(d)
	a.fb.c = a.fb.timer.C()
}

// connected records the settings in force as good (written only when
// they changed) and ends a trial.
func (a *Agent) fallbackConnected() {
	if a.fb.timer != nil {
		a.fb.timer.Stop()
		a.fb.timer, a.fb.c = nil, nil
	}
	cur := settingsOf(a.cfg.MQTT)
	if a.fb.hasGood && a.fb.good.equal(cur) {
		return
	}
	data, err := json.Marshal(cur)
	if err == nil {
		_, err = atomicfile.WriteFile(goodPath(a.cfg.DataDir), data, 0o600)
	}
	if err != nil {
		a.log.Error("cannot save the broker settings that connected", "err", err)
		return
	}
	a.fb.good, a.fb.hasGood = cur, true
}

// fallbackExpired: the settings on trial never connected. Back to the good
// ones, in the running link and in the configuration file.
func (a *Agent) fallbackExpired() {
	a.fb.timer, a.fb.c = nil, nil
	failed := redactAll(a.cfg.MQTT.AllBrokers())
	live := a.cfg.Clone()
	a.fb.good.apply(&live.MQTT)
	saved := a.saved.Clone()
	a.fb.good.apply(&saved.MQTT)
	if err := saved.Validate(); err == nil {
		if err := saved.Save(a.opts.ConfigPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
			a.log.Error("cannot save the configuration after a broker fallback", "err", err)
		}
		a.saved = saved
	}
	a.cfg = live
	lc := LinkConfigFrom(live, a.opts.Version)
	a.link.SetConfig(lc)
	a.log.Warn("broker settings never connected: back to the last good ones", "failed", failed, "now", redactAll(live.MQTT.AllBrokers()))
	a.raise("mqtt.fallback", fmt.Sprintf("the broker settings %s never connected within %d s of the start; back to %s, the last settings that connected (saved in the configuration)",
		failed, a.cfg.MQTT.FallbackAfterS, redactAll(live.MQTT.AllBrokers())))
}
