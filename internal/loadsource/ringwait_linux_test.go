package loadsource

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The reader sleeps a whole poll interval unless the ring fills past a
// quarter: with an hour's interval, a burst must still reach it, through
// the kernel's forced wakeup and the poller.
func TestRingFillingWakesTheReader(t *testing.T) {
	s := startRaw(t, Config{Poll: time.Hour, RingBytes: 64 << 10, Queue: 1 << 16})
	lib := copyLib(t, t.TempDir(), "libmh_wake.so")
	if out, err := exec.Command(mhload, "dlloop", lib, "2000").CombinedOutput(); err != nil {
		t.Fatalf("mhload: %v\n%s", err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Received == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("2,000 loads into a 64 KiB ring and nothing read within 10s: %+v", s.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Below the wakeup threshold nothing wakes the reader before its interval
// (no wakeup per event: each would cost the loading process a cross-CPU
// interrupt), and Close still delivers what the ring holds.
func TestCloseDeliversWhatTheRingHolds(t *testing.T) {
	// 16 MiB before a forced wakeup: other processes' loads during the test
	// (another package's storm among them) cannot reach it.
	s := startRaw(t, Config{Poll: time.Hour, RingBytes: 64 << 20, Queue: 1 << 16})
	lib := copyLib(t, t.TempDir(), "libmh_close.so")
	pid, _ := run(t, nil, "load", lib)
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Emitted == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the kernel side wrote nothing: %+v", s.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if st := s.Stats(); st.Received != 0 {
		t.Fatalf("the reader woke before its interval with %d bytes' worth waiting: %+v", st.Emitted, st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	found := false
	for ev := range s.Events() {
		if int(ev.PID) == pid && ev.Kind == KindMmap && strings.HasSuffix(string(ev.Path), "libmh_close.so") {
			found = true
		}
	}
	st := s.Stats()
	if !found {
		t.Errorf("the load waiting in the ring was not delivered at Close: %+v", st)
	}
	if st.Received != st.Emitted {
		t.Errorf("Close left events in the ring: emitted %d, received %d", st.Emitted, st.Received)
	}
}
