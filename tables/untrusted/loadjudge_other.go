//go:build !linux

package untrusted

// hostPreloadCache has nothing to hold where there are no load events.
type hostPreloadCache struct{}

// hostPreloads: only Linux has /etc/ld.so.preload and load events.
func (j *Judge) hostPreloads() []string { return nil }
