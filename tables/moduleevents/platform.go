package moduleevents

import "github.com/modhunt/modhunt/detections"

// platformOf is the Platform field of the events of an inventory of the OS
// goos: it selects the rules whose logsource product is that OS's (empty
// where modhunt has no rules: no rule sees the events).
func platformOf(goos string) string {
	switch goos {
	case "linux":
		return detections.PlatformLinux
	case "windows":
		return detections.PlatformWindows
	case "darwin":
		return detections.PlatformMacOS
	}
	return ""
}
