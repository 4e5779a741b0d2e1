package moduleevents

import (
	"testing"

	"go.uber.org/goleak"
)

// Every simulation's reader goroutine must be gone once its process is.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
