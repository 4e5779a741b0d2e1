package unbacked

import "github.com/modhunt/modhunt/internal/platform"

// platformOf is the event Platform of an inventory of the OS goos.
func platformOf(goos string) (string, bool) { return platform.Parse(goos) }
