package untrusted

import "github.com/modhunt/modhunt/tables/trust"

// defaultPolicy is the built-in policy for an inventory: macOS's for a
// macOS inventory, a stock Windows installation's for a Windows-shaped
// one, an empty one (nothing trusted) for another OS's.
func defaultPolicy(_ trust.Host, platform string) (*trust.Policy, error) {
	switch platform {
	case "darwin":
		return trust.Darwin(), nil
	case "windows":
		return trust.Windows(trust.DefaultWindowsDirs), nil
	}
	return &trust.Policy{Source: "built-in"}, nil
}
