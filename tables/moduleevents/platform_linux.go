package moduleevents

import "github.com/modhunt/modhunt/detections"

// platform is the Platform field of this OS's events: it selects the rules
// whose logsource product is linux.
const platform = detections.PlatformLinux
