//go:build !windows

package imagefacts

// verify has no verdict to give: Authenticode is checked by Windows.
func verify(string) (Signature, error) { return Signature{}, ErrUnsupported }
