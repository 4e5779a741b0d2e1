package untrusted

import "github.com/modhunt/modhunt/tables/trust"

// defaultPolicy is the built-in policy for an inventory: macOS's for a
// macOS inventory, an empty one (nothing trusted) for another OS's.
func defaultPolicy(_ trust.Host, platform string) (*trust.Policy, error) {
	if platform == "darwin" {
		return trust.Darwin(), nil
	}
	return &trust.Policy{Source: "built-in"}, nil
}
