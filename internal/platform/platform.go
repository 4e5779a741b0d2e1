// Package platform names the operating systems modhunt knows, once. Tables,
// packs, hunt and rule folders, event Platform fields and command-line flags
// all use these names, which are osquery's and Go's (GOOS).
//
// Sigma's logsource product spells macOS "macos", and rules keep that
// spelling so SigmaHQ's rules load as written; FromSigmaProduct is the one
// place it is translated.
package platform

// The operating systems, as osquery and Go name them.
const (
	Linux   = "linux"
	Windows = "windows"
	Darwin  = "darwin"
)

// All returns every OS, in the order docs list them.
func All() []string { return []string{Linux, Windows, Darwin} }

// sigmaProducts maps each Sigma logsource product modhunt evaluates to its
// OS: the only place where an OS has a second spelling.
var sigmaProducts = map[string]string{
	"linux":   Linux,
	"windows": Windows,
	"macos":   Darwin,
}

// FromSigmaProduct returns the OS a Sigma rule's logsource product selects.
// ok is false for a product modhunt has no OS for; the empty product
// (every OS) is the caller's to handle.
func FromSigmaProduct(product string) (name string, ok bool) {
	name, ok = sigmaProducts[product]
	return name, ok
}

// SigmaProduct returns the logsource product Sigma rules write for the OS
// name, or "" when name is not one of All.
func SigmaProduct(name string) string {
	for p, o := range sigmaProducts {
		if o == name {
			return p
		}
	}
	return ""
}

// Parse reads an OS name a person wrote (a flag, a recorded event's
// Platform field): one of All, or the Sigma product naming it ("macos"
// reads as darwin). It returns the OS's one name.
func Parse(name string) (string, bool) {
	for _, o := range All() {
		if name == o {
			return o, true
		}
	}
	return FromSigmaProduct(name)
}
