package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/loaxa/loaxa/agent/ladder"
	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/internal/redact"
)

// The playback log: every playback — scheduled, commanded, live, emergency
// — is one record per run on the output (or one for an item that never
// played), appended to the playlog journal and published as a log.record
// event (durable: after days offline and power cuts they all arrive, in
// seq order). log.get reads the journal back, paged.

// logIndex is what log.get needs to find records without reading them
// all: each record's seq and end, in seq order. Owned by the Run goroutine.
type logIndex struct {
	seqs []uint64
	ends []int64
}

// maxLogAnswer bounds the bytes of records one log.get answers with.
const maxLogAnswer = 48 << 10

// loadLogIndex rebuilds the index from the journal at start.
func (a *Agent) loadLogIndex() {
	if a.store == nil {
		return
	}
	a.store.playlog.Scan(0, func(seq uint64, rec []byte) error {
		var r struct {
			End int64 `json:"end"`
		}
		if json.Unmarshal(rec, &r) == nil {
			a.logIdx.seqs = append(a.logIdx.seqs, seq)
			a.logIdx.ends = append(a.logIdx.ends, r.End)
		}
		return nil
	})
}

// resultOf maps why an item left the output to a log result.
func resultOf(reason string) string {
	switch reason {
	case "completed", "stopped", "failed", "missed":
		return reason
	case "expired":
		return "missed" // its window closed before it could play
	}
	return "interrupted" // interrupted, replaced, agent_stopped, agent_restarted
}

// logPlay records one playback of it: this run's heard samples, why it
// ended, and the error that ended it.
func (a *Agent) logPlay(it *ladder.Item, reason string, heard int64, err error) {
	now := a.clk.Now()
	r := wire.LogRecord{
		Item: it.ID, CmdID: it.CmdID, ScheduleItem: it.ScheduleItem,
		Source: redact.URL(it.Source), Title: it.Title, Priority: it.Level.String(), Origin: it.Origin,
		Zones: a.itemZones(it), Volume: a.itemVolume(it), End: now.UnixMilli(), Result: resultOf(reason), Instead: it.Instead,
		HeardS: math.Round(a.seconds(heard)*1000) / 1000, Resumed: it.Resumes > 0 && reason != "interrupted" || it.Resumes > 1,
	}
	if !it.Scheduled.IsZero() {
		r.Scheduled = it.Scheduled.UnixMilli()
	}
	if heard > 0 && !it.LastRun.IsZero() {
		r.Start = it.LastRun.UnixMilli()
	}
	if r.Result == "interrupted" {
		r.InterruptedBy = it.InterruptedBy
		if reason == "agent_stopped" || reason == "agent_restarted" {
			r.InterruptedBy = reason
		}
	}
	if err != nil {
		r.Error = err.Error()
	}
	a.appendLog(r)
	if a.onAir != nil && a.onAir.Item == it.ID {
		a.onAir = nil
		if err := a.persist(); err != nil {
			a.log.Error("cannot save the state", "err", err)
		}
	}
	if it.ScheduleItem != "" && reason != "interrupted" {
		a.scheduleEnded(it.ID)
	}
}

// runStarted saves the record of a run as it starts, so that a crash or
// a power cut during it does not lose it from the log.
func (a *Agent) runStarted(it *ladder.Item) {
	r := wire.LogRecord{
		Item: it.ID, CmdID: it.CmdID, ScheduleItem: it.ScheduleItem,
		Source: redact.URL(it.Source), Title: it.Title, Priority: it.Level.String(), Origin: it.Origin,
		Zones: a.itemZones(it), Volume: a.itemVolume(it), Start: it.LastRun.UnixMilli(), Resumed: it.Resumes > 0, Instead: it.Instead,
	}
	if !it.Scheduled.IsZero() {
		r.Scheduled = it.Scheduled.UnixMilli()
	}
	a.onAir = &r
	a.noteWaiting() // it left the waiting records
	if err := a.persist(); err != nil {
		a.log.Error("cannot save the run on air", "err", err)
	}
}

// closeCutRun logs, at start, the run the last agent could not close: it
// ended at the latest now, for an unknown part of which it was heard.
func (a *Agent) closeCutRun(r *wire.LogRecord) {
	if r == nil {
		return
	}
	r.End = a.clk.Now().UnixMilli()
	r.Result = "interrupted"
	r.InterruptedBy = "agent_lost"
	r.Error = "the agent stopped without closing this run (a power cut or a crash): it sounded for an unknown part of start..end"
	a.appendLog(*r)
	a.onAir = nil
	if err := a.persist(); err != nil {
		a.log.Error("cannot save the state", "err", err)
	}
}

// itemZones is the zones an item plays (or would have played) on: the
// ones it names, or all of them when it names none.
func (a *Agent) itemZones(it *ladder.Item) []string {
	if len(it.Zones) > 0 {
		return it.Zones
	}
	return a.cfg.ZoneNames()
}

// waitingRecs are the playback-log records of the items waiting in the
// queue, with the ids they were built from (to rebuild only on a change).
type waitingRecs struct {
	key  string
	recs []wire.LogRecord
}

// noteWaiting saves the queue's records when the queue has changed, so a
// crash or a power cut cannot drop an accepted item from the log.
// Publishing the state follows every change of the queue, so it calls
// this; the state journal is written only when the list changed.
func (a *Agent) noteWaiting() {
	if a.store == nil || a.queue == nil {
		return
	}
	// The items accepted and not yet on air: the queue's, and the one the
	// sequencer is starting (the amplifier warming up), which has no
	// record on air yet. Scheduled occurrences are the tracker's: it
	// restarts them, or logs them missed.
	var items []*ladder.Item
	if cur := a.seq.Item(); cur != nil && (a.onAir == nil || a.onAir.Item != cur.ID) && cur.RunStart.IsZero() {
		items = append(items, cur)
	}
	items = append(items, a.queue.Items()...)
	var key strings.Builder
	var recs []wire.LogRecord
	for _, it := range items {
		if it.ScheduleItem != "" {
			continue
		}
		fmt.Fprintf(&key, "%s/%d\x00", it.ID, it.Resumes)
		r := wire.LogRecord{
			Item: it.ID, CmdID: it.CmdID, Source: redact.URL(it.Source), Title: it.Title,
			Priority: it.Level.String(), Origin: it.Origin, Zones: a.itemZones(it), Volume: a.itemVolume(it),
			Resumed: it.Resumes > 0,
		}
		recs = append(recs, r)
	}
	if key.String() == a.waiting.key {
		return
	}
	a.waiting = waitingRecs{key: key.String(), recs: recs}
	if err := a.persist(); err != nil {
		a.log.Error("cannot save the queue's records", "err", err)
	}
}

// closeWaiting logs, at start, the items the last agent left waiting in
// its queue when it died without a stop: they never played (again).
func (a *Agent) closeWaiting(recs []wire.LogRecord) {
	if len(recs) == 0 {
		return
	}
	for _, r := range recs {
		r.End = a.clk.Now().UnixMilli()
		r.Result = "failed"
		r.Error = "the agent stopped without a shutdown (a power cut or a crash) while this item waited in the queue: it did not play"
		if r.Resumed {
			r.Error = "the agent stopped without a shutdown (a power cut or a crash) while this interrupted item waited in the queue: it was not resumed"
		}
		a.appendLog(r)
	}
	a.waiting = waitingRecs{}
	if err := a.persist(); err != nil {
		a.log.Error("cannot save the state", "err", err)
	}
}

// logMissed records a scheduled occurrence that never played.
func (a *Agent) logMissed(it *ladder.Item, why string) {
	r := wire.LogRecord{
		Item: it.ID, ScheduleItem: it.ScheduleItem, Source: redact.URL(it.Source), Priority: it.Level.String(),
		Origin: it.Origin, Zones: a.itemZones(it), Volume: a.itemVolume(it), End: a.clk.Now().UnixMilli(), Result: "missed", Error: why,
	}
	if !it.Scheduled.IsZero() {
		r.Scheduled = it.Scheduled.UnixMilli()
	}
	a.appendLog(r)
}

// appendLog stores a record (it gets its seq there) and publishes it.
func (a *Agent) appendLog(r wire.LogRecord) {
	if a.store == nil {
		a.storageFault(storagePlaylog, "the playback log cannot be written: the data directory is not usable")
		return
	}
	seq := a.store.playlog.Next()
	r.Seq = seq
	b, err := json.Marshal(r)
	if err == nil {
		var got uint64
		got, err = a.store.appendLog(b)
		if err == nil && got != seq {
			// Only this goroutine appends; keep the stored number.
			r.Seq = got
			b, _ = json.Marshal(r)
		}
		seq = got
	}
	if err != nil {
		a.log.Error("playback log: record not stored", "item", r.Item, "err", err)
		a.storageFault(storagePlaylog, "the playback log cannot be written: "+err.Error())
		return
	}
	a.storageFault(storagePlaylog, "")
	a.logIdx.seqs = append(a.logIdx.seqs, seq)
	a.logIdx.ends = append(a.logIdx.ends, r.End)
	if first := a.store.playlog.First(); len(a.logIdx.seqs) > 0 && a.logIdx.seqs[0] < first {
		// The oldest records were dropped to bound the log.
		i := sort.Search(len(a.logIdx.seqs), func(i int) bool { return a.logIdx.seqs[i] >= first })
		a.logIdx.seqs, a.logIdx.ends = slices.Clone(a.logIdx.seqs[i:]), slices.Clone(a.logIdx.ends[i:])
	}
	var data map[string]any
	json.Unmarshal(b, &data)
	a.event("log.record", data)
}

// itemVolume is the level an item plays at (0-100).
func (a *Agent) itemVolume(it *ladder.Item) int {
	v := a.volume
	if it.Volume != nil {
		v = *it.Volume
	}
	if it.Level == ladder.Emergency {
		v = max(v, a.cfg.Audio.EmergencyMinVolume)
	}
	return min(v, a.volumeCap())
}

type logGetArgs struct {
	From     *int64 `json:"from"`
	To       *int64 `json:"to"`
	Limit    int    `json:"limit"`
	AfterSeq uint64 `json:"after_seq"`
}

// cmdLogGet answers records of the playback log, oldest first: those that
// ended in [from, to) (ms; each optional) with a seq above after_seq, at
// most limit (default 100, at most 1000) and about 48 KiB. more says
// whether another page follows (ask again with after_seq = next_after_seq).
func (a *Agent) cmdLogGet(c *wire.Command) (any, *wire.Error) {
	var args logGetArgs
	if e := wire.DecodeArgs(c.Args, &args); e != nil {
		return nil, e
	}
	if args.Limit == 0 {
		args.Limit = 100
	}
	if args.Limit < 1 || args.Limit > 1000 {
		return nil, wire.Errf(wire.CodeBadArgs, "limit must be 1..1000, got %d", args.Limit)
	}
	if args.From != nil && args.To != nil && *args.To < *args.From {
		return nil, wire.Errf(wire.CodeBadArgs, "to (%d) is before from (%d)", *args.To, *args.From)
	}
	if a.store == nil {
		return nil, wire.Errf(wire.CodeInternal, "the playback log is not available: the data directory is not usable")
	}
	idx := &a.logIdx
	start := sort.Search(len(idx.seqs), func(i int) bool { return idx.seqs[i] > args.AfterSeq })
	records := []json.RawMessage{}
	size, more := 0, false
	var last, first uint64
	want := map[uint64]bool{}
	for i := start; i < len(idx.seqs); i++ {
		if args.From != nil && idx.ends[i] < *args.From || args.To != nil && idx.ends[i] >= *args.To {
			continue
		}
		if len(want) == args.Limit {
			more = true
			break
		}
		if len(want) == 0 {
			first = idx.seqs[i]
		}
		want[idx.seqs[i]] = true
	}
	if len(want) > 0 {
		errStop := errors.New("stop")
		a.store.playlog.Scan(first, func(seq uint64, rec []byte) error {
			if !want[seq] {
				return nil
			}
			if size+len(rec) > maxLogAnswer && len(records) > 0 {
				more = true
				return errStop
			}
			records = append(records, json.RawMessage(slices.Clone(rec)))
			size += len(rec)
			last = seq
			delete(want, seq)
			if len(want) == 0 {
				return errStop
			}
			return nil
		})
	}
	if last == 0 {
		last = args.AfterSeq
	}
	return map[string]any{"records": records, "more": more, "next_after_seq": last}, nil
}
