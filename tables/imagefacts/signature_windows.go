package imagefacts

import "github.com/modhunt/modhunt/internal/winproc"

// verify is WinVerifyTrust's verdict, embedded signature first, then the
// catalogs; no network is used (see internal/winproc).
func verify(path string) (Signature, error) {
	s, err := winproc.Verify(path)
	if err != nil {
		return Signature{}, err
	}
	return Signature{Signed: s.Signed, Status: s.Status, Signer: s.Subject, Catalog: s.Catalog}, nil
}
