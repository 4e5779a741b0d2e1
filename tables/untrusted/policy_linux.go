package untrusted

import "github.com/modhunt/modhunt/tables/trust"

// defaultPolicy is the built-in policy for an inventory of platform:
// Linux's (the loader's directories and ld.so.conf) for this host's own
// processes, a stock Windows installation's for a Windows inventory, an
// empty one (nothing trusted) for another OS's.
func defaultPolicy(host trust.Host, platform string) (*trust.Policy, error) {
	if platform == "windows" {
		// A Windows-shaped inventory read here: a stock installation's
		// folders.
		return trust.Windows(trust.DefaultWindowsDirs), nil
	}
	if platform != "linux" {
		return &trust.Policy{Source: "built-in"}, nil
	}
	return trust.Linux(host)
}
