package untrusted

import (
	"testing"

	"go.uber.org/goleak"
)

// The simulations start processes with reader goroutines; every one must be
// gone when the tests end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
