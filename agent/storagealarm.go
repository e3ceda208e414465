package agent

import (
	"maps"
	"slices"
	"strings"
)

// The storage alarm has several causes, each with its own way back: a
// sync of the journals that fails and later succeeds, an outbox full while
// the broker is away and then drained, a state, an answer, a playback-log
// record or a schedule that could not be saved and later is. One alarm
// cleared by a single success path stayed raised after the others
// recovered (an outbox that filled and drained kept it for good), so each
// cause is kept apart and the alarm clears when the last one has.
const (
	storageDataDir  = "data_dir" // the data directory cannot be used: until a restart
	storageSync     = "sync"
	storageOutbox   = "outbox"
	storageState    = "state"
	storageAnswers  = "answers"
	storagePlaylog  = "playlog"
	storageSchedule = "schedule"
	storageMedia    = "media" // the media cache cannot run: until a restart
)

// storageFault raises the storage alarm for cause with detail, or, when
// detail is "", ends that cause; the alarm's detail names every cause
// still present, and the alarm clears with the last one. Cheap on the
// success path: nothing happens unless the cause was raised.
func (a *Agent) storageFault(cause, detail string) {
	if detail == "" {
		if _, ok := a.storageFaults[cause]; !ok {
			return
		}
		delete(a.storageFaults, cause)
		if len(a.storageFaults) == 0 {
			a.clear("storage")
			return
		}
	} else {
		if a.storageFaults == nil {
			a.storageFaults = map[string]string{}
		}
		a.storageFaults[cause] = detail
	}
	var parts []string
	for _, c := range slices.Sorted(maps.Keys(a.storageFaults)) {
		parts = append(parts, a.storageFaults[c])
	}
	a.raise("storage", strings.Join(parts, "; "))
}
