package untrusted

import (
	"github.com/modhunt/modhunt/internal/winproc"
	"github.com/modhunt/modhunt/tables/trust"
)

// SignatureFactsOf is a WinVerifyTrust verdict as the policy reads it.
func SignatureFactsOf(s winproc.Signature) trust.SignatureFacts {
	return trust.SignatureFacts{Checked: true, Signed: s.Signed, Status: s.Status, Subject: s.Subject}
}
