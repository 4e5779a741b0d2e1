package winproc

import (
	"errors"
	"testing"
)

func TestRetryIsBounded(t *testing.T) {
	errBadLength := errors.New("bad length")
	isBad := func(err error) bool { return errors.Is(err, errBadLength) }

	calls := 0
	_, err := retry(snapshotRetries, func() (int, error) { calls++; return 0, errBadLength }, isBad)
	if !errors.Is(err, errBadLength) || calls != snapshotRetries {
		t.Errorf("always failing: %d calls, %v; want %d calls and the error", calls, err, snapshotRetries)
	}

	calls = 0
	v, err := retry(snapshotRetries, func() (int, error) {
		calls++
		if calls < 3 {
			return 0, errBadLength
		}
		return 7, nil
	}, isBad)
	if v != 7 || err != nil || calls != 3 {
		t.Errorf("succeeding on the third call: %d, %v after %d calls", v, err, calls)
	}

	calls = 0
	other := errors.New("access denied")
	if _, err := retry(snapshotRetries, func() (int, error) { calls++; return 0, other }, isBad); !errors.Is(err, other) || calls != 1 {
		t.Errorf("another error: %v after %d calls, want it at once", err, calls)
	}
}

func TestBufferSizesReachTheLongestPath(t *testing.T) {
	sizes := bufferSizes()
	if sizes[0] != 261 || sizes[len(sizes)-1] != 32768 {
		t.Errorf("buffer sizes %v: want 261 first and 32768 last", sizes)
	}
	for i := 1; i < len(sizes); i++ {
		if sizes[i] <= sizes[i-1] {
			t.Errorf("buffer sizes %v do not grow", sizes)
		}
	}
}
