package moduleevents

import "github.com/modhunt/modhunt/detections"

// platform is the Platform field of this OS's events.
const platform = detections.PlatformDarwin
