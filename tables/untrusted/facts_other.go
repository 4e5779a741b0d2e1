//go:build !windows

package untrusted

import "github.com/modhunt/modhunt/tables/inventory"

// liveWindowsFacts: a Windows-shaped inventory read on another OS has no
// Windows to ask; it is judged by its paths and loader list alone.
func liveWindowsFacts(inventory.Source) WindowsFacts { return nil }
