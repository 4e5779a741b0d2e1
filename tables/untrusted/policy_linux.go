package untrusted

import "github.com/modhunt/modhunt/tables/trust"

// defaultPolicy is the built-in policy for an inventory of platform:
// Linux's (the loader's directories and ld.so.conf) for this host's own
// processes, a stock Windows installation's for a Windows inventory,
// macOS's (which reads nothing from the host) for a macOS inventory, an
// empty one (nothing trusted) for another OS's.
func defaultPolicy(host trust.Host, platform string) (*trust.Policy, error) {
	switch platform {
	case "windows":
		// A Windows-shaped inventory read here: a stock installation's
		// folders.
		return trust.Windows(trust.DefaultWindowsDirs), nil
	case "darwin":
		return trust.Darwin(), nil
	}
	if platform != "linux" {
		return &trust.Policy{Source: "built-in"}, nil
	}
	return trust.Linux(host)
}
