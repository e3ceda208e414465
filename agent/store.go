package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/loaxa/loaxa/agent/wire"

	"github.com/loaxa/loaxa/agent/schedule"

	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/internal/journal"
)

// store keeps what must outlive a restart or a power cut, under DATA_DIR:
//
//	state/    the persisted state (zones, volume): each change appends the
//	          whole small document, the last one wins
//	answers/  the commands already executed (see answers)
//	outbox/   the durable messages waiting for the broker (see outbox)
//
// All three are journals in Deferred mode: the Run goroutine appends (a
// write into the page cache, which a crash of the agent does not lose) and
// never waits for the disk; the syncer goroutine fsyncs them together: at
// once after a quiet spell, and at most every syncEvery while changes keep
// coming (group commit). So a change survives a power cut a few
// milliseconds after it was made, or within syncEvery in a burst, and the
// SD card sees at most one block write per journal per syncEvery whatever
// the command rate. Read-only commands write nothing at all.
//
// Why not acknowledge a command to the broker only once synced: brokers
// keep only so many unacknowledged messages in flight to a client
// (mosquitto: 20), so each burst of changes would wait for a sync every 20
// commands; the agent acknowledges once the change is appended.
type store struct {
	dir     string
	log     logger
	clk     clock.Clock
	state   *journal.Journal
	answers *journal.Journal
	outbox  *journal.Queue
	// playlog is the playback log (see playlog.go): kept for log.get after
	// its records were delivered, bounded by dropping its oldest segment.
	playlog *journal.Journal

	kick   chan struct{}
	failed chan error // a sync that failed (latest wins)

	// answerSeqs maps each remembered answer's id to its record's seq, to
	// find how much of the answers journal can be trimmed. Run goroutine.
	answerSeqs map[string]uint64

	wg        sync.WaitGroup
	closeOnce sync.Once
	cancel    context.CancelFunc
}

type logger interface {
	Error(msg string, args ...any)
	Warn(msg string, args ...any)
}

// storeVersion is the schema version of a state record (and of the old
// state.json, which version 1 agents kept and which is imported once).
const storeVersion = 2

// syncEvery bounds how often the store fsyncs: one fsync carries every
// change of the interval (group commit). On an SD card that is one block
// write per journal per interval whatever the command rate; it is also the
// most a change can wait for the flash in a burst.
const syncEvery = 500 * time.Millisecond

// Journal sizes: the state journal holds copies of a ~100-byte document
// and is trimmed to its last one; answers are bounded by their count.
var (
	stateJournal   = journal.Options{Deferred: true, SegmentBytes: 256 << 10, MaxBytes: 1 << 20, MaxRecord: 16 << 10}
	answersJournal = journal.Options{Deferred: true, SegmentBytes: 256 << 10, MaxBytes: 8 << 20, MaxRecord: 4 << 10}
	outboxJournal  = journal.Options{Deferred: true, SegmentBytes: 256 << 10, MaxBytes: 16 << 20, MaxRecord: 64 << 10}
	// The playback log: about 60,000 records of ~300 bytes, months of a
	// busy pole's broadcasts.
	playlogJournal = journal.Options{Deferred: true, SegmentBytes: 1 << 20, MaxBytes: 16 << 20, MaxRecord: 16 << 10}
)

// persisted is what the agent restores at start.
type persisted struct {
	Version int             `json:"version"`
	Zones   map[string]bool `json:"zones"`
	Volume  int             `json:"volume"`
	// Schedule is the broadcast schedule's memory of which occurrences
	// were started, ended or missed.
	Schedule *schedule.State `json:"schedule,omitempty"`
	// OnAir is the playback log's record of the run on the output, saved
	// when it starts: a run that a crash or a power cut cut short is still
	// logged at the next start.
	OnAir *wire.LogRecord `json:"on_air,omitempty"`
	// Waiting are the records of the items waiting in the queue, saved
	// when the queue changes: those a crash or a power cut dropped are
	// logged at the next start, as a stop would have logged them.
	Waiting []wire.LogRecord `json:"waiting,omitempty"`
}

// defaultVolume is the master volume of a new pole.
const defaultVolume = 60

// openStore opens the journals under dir and loads what they hold.
// warnings are what was found damaged or reset (the agent raises an alarm
// and goes on from defaults); err is an I/O error that leaves the agent
// without storage.
func openStore(dir string, clk clock.Clock, log logger) (s *store, p persisted, ans []*answer, warnings []error, err error) {
	p = persisted{Version: storeVersion, Zones: map[string]bool{}, Volume: defaultVolume}
	s = &store{dir: dir, log: log, clk: clk, kick: make(chan struct{}, 1),
		failed: make(chan error, 1), answerSeqs: map[string]uint64{}}
	if s.state, err = journal.Open(filepath.Join(dir, "state"), stateJournal); err != nil {
		return nil, p, nil, nil, err
	}
	if s.answers, err = journal.Open(filepath.Join(dir, "answers"), answersJournal); err != nil {
		s.state.Close()
		return nil, p, nil, nil, err
	}
	if s.outbox, err = journal.OpenQueue(filepath.Join(dir, "outbox"), outboxJournal); err != nil {
		s.state.Close()
		s.answers.Close()
		return nil, p, nil, nil, err
	}
	if s.playlog, err = journal.Open(filepath.Join(dir, "playlog"), playlogJournal); err != nil {
		s.state.Close()
		s.answers.Close()
		s.outbox.Close()
		return nil, p, nil, nil, err
	}
	for name, st := range map[string]journal.Stats{"state": s.state.Stats(), "answers": s.answers.Stats(), "outbox": s.outbox.Stats().Records, "playlog": s.playlog.Stats()} {
		if st.Damaged() {
			warnings = append(warnings, fmt.Errorf("the %s journal was damaged (a power cut or a failing SD card): %d torn bytes, %d corrupt segments; what was readable is kept", name, st.TornBytes, st.CorruptSegments))
		}
	}
	var last []byte
	s.state.Scan(0, func(_ uint64, rec []byte) error {
		last = append(last[:0], rec...)
		return nil
	})
	switch {
	case last != nil:
		if err := decodeState(last, &p); err != nil {
			warnings = append(warnings, fmt.Errorf("the saved state is unreadable (%v); starting from defaults", err))
		}
	default:
		if w := s.importStateJSON(&p); w != nil {
			warnings = append(warnings, w)
		}
	}
	now := clk.Now().UnixMilli()
	s.answers.Scan(0, func(seq uint64, rec []byte) error {
		var a answer
		if json.Unmarshal(rec, &a) == nil && a.ID != "" && a.Until >= now {
			ans = append(ans, &a)
			s.answerSeqs[a.ID] = seq
		}
		return nil
	})
	return s, p, ans, warnings, nil
}

func decodeState(b []byte, p *persisted) error {
	var got persisted
	if err := json.Unmarshal(b, &got); err != nil {
		return err
	}
	if got.Version < 1 || got.Version > storeVersion || got.Volume < 0 || got.Volume > 100 {
		return fmt.Errorf("version %d, volume %d out of range", got.Version, got.Volume)
	}
	if got.Zones == nil {
		got.Zones = map[string]bool{}
	}
	*p = got
	return nil
}

// importStateJSON migrates the state.json of a version 1 agent (which also
// held its remembered acks, not carried over) into the state journal.
func (s *store) importStateJSON(p *persisted) error {
	path := filepath.Join(s.dir, "state.json")
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if err := decodeState(data, p); err != nil {
		os.Rename(path, path+".corrupt")
		return fmt.Errorf("%s is unreadable (%v); moved to %s.corrupt, starting from defaults", path, err, path)
	}
	if err := s.saveState(*p); err != nil {
		return err
	}
	if err := s.state.Sync(); err != nil {
		return err
	}
	os.Remove(path)
	return nil
}

// saveState appends the state; an error means it was not stored (the
// caller undoes the change).
func (s *store) saveState(p persisted) error {
	p.Version = storeVersion
	p.Zones = maps.Clone(p.Zones)
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	seq, err := s.state.Append(b)
	if err != nil {
		return err
	}
	if s.state.Stats().Segments > 2 {
		// Every record before the last is obsolete.
		if err := s.state.Trim(seq); err != nil {
			s.log.Warn("state journal: trim", "err", err)
		}
	}
	s.touch()
	return nil
}

// saveAnswer appends a remembered answer; answers that can no longer be
// accepted are trimmed away as the journal grows.
func (s *store) saveAnswer(a *answer, live func(id string) bool) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	seq, err := s.answers.Append(b)
	if errors.Is(err, journal.ErrFull) {
		s.trimAnswers(live)
		seq, err = s.answers.Append(b)
	}
	if err != nil {
		return err
	}
	s.answerSeqs[a.ID] = seq
	if st := s.answers.Stats(); st.Segments > 4 {
		s.trimAnswers(live)
	}
	s.touch()
	return nil
}

// trimAnswers drops the journal's segments that hold no answer still
// remembered.
func (s *store) trimAnswers(live func(id string) bool) {
	keep := s.answers.Next()
	for id, seq := range s.answerSeqs {
		if !live(id) {
			delete(s.answerSeqs, id)
			continue
		}
		keep = min(keep, seq)
	}
	if err := s.answers.Trim(keep); err != nil {
		s.log.Warn("answers journal: trim", "err", err)
	}
}

// appendLog appends a playback record and returns its seq; a full log
// drops its oldest segment (a bounded history) and tries again.
func (s *store) appendLog(rec []byte) (uint64, error) {
	seq, err := s.playlog.Append(rec)
	if errors.Is(err, journal.ErrFull) {
		st := s.playlog.Stats()
		s.playlog.Trim(st.First + max(1, st.Records/8)) // a segment or two
		seq, err = s.playlog.Append(rec)
	}
	if err != nil {
		return 0, err
	}
	s.touch()
	return seq, nil
}

// touch wakes the syncer: a change waits to be made durable.
func (s *store) touch() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// run is the syncer goroutine.
func (s *store) run(ctx context.Context) {
	defer s.wg.Done()
	t := s.clk.NewTimer(0)
	defer t.Stop()
	last := time.Time{}
	failing := false
	report := func(err error) { // latest wins: the Run goroutine wants the news, not the history
		select {
		case <-s.failed:
		default:
		}
		s.failed <- err
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		}
		if wait := syncEvery - s.clk.Now().Sub(last); wait > 0 && !last.IsZero() {
			// Group commit: what arrives meanwhile rides along.
			t.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-t.C():
			}
		}
		last = s.clk.Now()
		switch err := s.sync(); {
		case err != nil:
			failing = true
			report(err)
		case failing:
			failing = false
			report(nil) // the flash takes writes again
		}
	}
}

func (s *store) sync() error {
	return errors.Join(s.state.Sync(), s.answers.Sync(), s.outbox.Sync(), s.playlog.Sync())
}

// start runs the syncer until close.
func (s *store) start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go s.run(ctx)
}

// close stops the syncer, syncs one last time and closes the journals.
func (s *store) close() error {
	var err error
	s.closeOnce.Do(func() {
		if s.cancel != nil {
			s.cancel()
			s.wg.Wait()
		}
		err = errors.Join(s.state.Close(), s.answers.Close(), s.outbox.Close(), s.playlog.Close())
	})
	return err
}
