package agent

import (
	"context"
	"fmt"
	"sync"

	"github.com/loaxa/loaxa/audio/guard"
)

// alarmAudioDevice is raised while the audio output device is failed
// (stuck or erroring) and being reopened; its detail is the failure.
const alarmAudioDevice = "audio.device"

// DeviceHealth is the audio output's view of its device; audio/guard's
// Sink implements it. Status returns the device's health and a channel
// closed at its next change; it is safe from any goroutine.
type DeviceHealth interface {
	Status() (guard.Status, <-chan struct{})
}

// setupDevice follows the device's health on a part goroutine, which
// raises and clears the audio.device alarm through the Run goroutine.
func (a *Agent) setupDevice() {
	h := a.opts.Device
	if h == nil {
		return
	}
	a.addPart(func(ctx context.Context, wg *sync.WaitGroup) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.watchDevice(ctx, h)
		}()
	})
}

func (a *Agent) watchDevice(ctx context.Context, h DeviceHealth) {
	var seen guard.Status
	for {
		st, changed := h.Status()
		if st.Failures != seen.Failures || errText(st.Err) != errText(seen.Err) {
			missed := st.Err == nil && st.Failures > seen.Failures
			if !a.Do(ctx, func() { a.deviceHealth(st, missed) }) {
				return
			}
			seen = st
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}

// deviceHealth raises or clears the alarm; it runs on the Run goroutine.
// A failure already cured by the time it was seen is still raised, then
// cleared: an item failed because of it.
func (a *Agent) deviceHealth(st guard.Status, missed bool) {
	if st.Err != nil {
		a.raise(alarmAudioDevice, st.Err.Error())
		return
	}
	if missed {
		a.raise(alarmAudioDevice, fmt.Sprintf("%v (reopened since; %d failures since start)", st.Last, st.Failures))
	}
	a.clear(alarmAudioDevice)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
