package board

import "testing"

// The kernel answers on any Linux machine; whether it is synchronised
// depends on the machine (CI machines often are not), so only the call and
// the source are checked.
func TestClockStatusReadsTheKernel(t *testing.T) {
	st, err := New().ClockStatus()
	if err != nil {
		t.Fatal(err)
	}
	if st.Source != "kernel" || st.MaxError < 0 {
		t.Fatalf("status %+v", st)
	}
}
