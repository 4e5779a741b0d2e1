package moduleevents

import "github.com/modhunt/modhunt/internal/platform"

// platformOf is the Platform field of the events of an inventory of the OS
// goos: it selects the rules whose logsource product is that OS's (empty
// where modhunt has no rules: no rule sees the events).
func platformOf(goos string) string {
	if p, ok := platform.Parse(goos); ok {
		return p
	}
	return ""
}
