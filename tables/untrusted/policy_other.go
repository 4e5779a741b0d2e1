//go:build !linux && !windows && !darwin

package untrusted

import "github.com/modhunt/modhunt/tables/trust"

// defaultPolicy is empty (nothing trusted) where modhunt has no defaults,
// but for a Windows inventory (a stock installation's folders).
func defaultPolicy(_ trust.Host, platform string) (*trust.Policy, error) {
	if platform == "windows" {
		// A Windows-shaped inventory: a stock installation's folders.
		return trust.Windows(trust.DefaultWindowsDirs), nil
	}
	return &trust.Policy{Source: "built-in"}, nil
}
