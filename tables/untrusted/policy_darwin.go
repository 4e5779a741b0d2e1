package untrusted

import "github.com/modhunt/modhunt/tables/trust"

// defaultPolicy is the built-in policy for an inventory: a stock Windows
// installation's for a Windows one, else empty (nothing
// trusted) until macOS has defaults of its own.
func defaultPolicy(_ trust.Host, platform string) (*trust.Policy, error) {
	if platform == "windows" {
		// A Windows-shaped inventory: a stock installation's folders.
		return trust.Windows(trust.DefaultWindowsDirs), nil
	}
	return &trust.Policy{Source: "built-in"}, nil
}
