package winproc

import "testing"

func TestVerdictFromResult(t *testing.T) {
	for _, c := range []struct {
		name   string
		hr     uint32
		signed bool
		status string
	}{
		{"ERROR_SUCCESS", hrSuccess, true, StatusValid},
		{"TRUST_E_NOSIGNATURE", hrTrustNoSignature, false, StatusUnavailable},
		{"TRUST_E_SUBJECT_FORM_UNKNOWN", hrTrustSubjectFormUnknown, false, StatusUnavailable},
		{"TRUST_E_PROVIDER_UNKNOWN", hrTrustProviderUnknown, false, StatusUnavailable},
		{"CERT_E_EXPIRED", hrCertExpired, true, StatusExpired},
		{"CERT_E_VALIDITYPERIODNESTING", hrCertValidityNesting, true, StatusExpired},
		{"CERT_E_REVOKED", hrCertRevoked, true, StatusRevoked},
		{"CRYPT_E_REVOKED", hrCryptRevoked, true, StatusRevoked},
		{"CERT_E_UNTRUSTEDROOT", hrCertUntrustedRoot, true, StatusUntrusted},
		{"CERT_E_CHAINING", hrCertChaining, true, StatusUntrusted},
		{"CERT_E_UNTRUSTEDTESTROOT", hrCertUntrustedTestRoot, true, StatusUntrusted},
		{"CERT_E_UNTRUSTEDCA", hrCertUntrustedCA, true, StatusUntrusted},
		{"TRUST_E_EXPLICIT_DISTRUST", hrTrustExplicitDistrust, true, StatusUntrusted},
		{"TRUST_E_SUBJECT_NOT_TRUSTED", hrTrustSubjectNotTrusted, true, StatusUntrusted},
		{"CRYPT_E_SECURITY_SETTINGS", hrCryptSecuritySettings, true, StatusDisallowed},
		{"TRUST_E_BAD_DIGEST", hrTrustBadDigest, true, StatusInvalid},
		{"TRUST_E_NO_SIGNER_CERT", hrTrustNoSignerCert, true, StatusInvalid},
		{"TRUST_E_COUNTER_SIGNER", hrTrustCounterSigner, true, StatusInvalid},
		{"TRUST_E_CERT_SIGNATURE", hrTrustCertSignature, true, StatusInvalid},
		{"TRUST_E_TIME_STAMP", hrTrustTimeStamp, true, StatusInvalid},
		{"CERT_E_WRONG_USAGE", hrCertWrongUsage, true, StatusInvalid},
		{"an unknown failure", 0x80004005, true, StatusInvalid},
	} {
		signed, status := VerdictFromResult(c.hr)
		if signed != c.signed || status != c.status {
			t.Errorf("%s (%#08x): signed %v %q, want %v %q", c.name, c.hr, signed, status, c.signed, c.status)
		}
	}
}

// TestOnlyMissingSignaturesAskTheCatalogs: a file whose embedded signature
// is broken must not be rescued by a catalog that lists some other hash.
func TestOnlyMissingSignaturesAskTheCatalogs(t *testing.T) {
	for _, hr := range []uint32{hrTrustNoSignature, hrTrustSubjectFormUnknown, hrTrustProviderUnknown} {
		if !noSignature(hr) {
			t.Errorf("%#08x does not ask the catalogs", hr)
		}
	}
	for _, hr := range []uint32{hrSuccess, hrTrustBadDigest, hrCertExpired, hrCertUntrustedRoot, 0x80004005} {
		if noSignature(hr) {
			t.Errorf("%#08x asks the catalogs", hr)
		}
	}
}

func TestIntegrityLevel(t *testing.T) {
	for _, c := range []struct {
		rid  uint32
		want string
	}{
		{0x0000, "untrusted"},
		{0x1000, "low"},
		{0x2000, "medium"},
		{0x2100, "medium"}, // medium plus
		{0x3000, "high"},
		{0x4000, "system"},
		{0x5000, "protected"},
	} {
		if got := IntegrityLevel(c.rid); got != c.want {
			t.Errorf("IntegrityLevel(%#x) = %q, want %q", c.rid, got, c.want)
		}
	}
}

// TestReadFailureIsNoVerdict: WinVerifyTrust answers a file it could not
// read with a Win32 error (bare on Wine, wrapped as 0x8007xxxx on Windows);
// that must not become "signed, Invalid".
func TestReadFailureIsNoVerdict(t *testing.T) {
	for _, hr := range []uint32{2, 5, 32, 0x80070002, 0x80070005, 0x80070020} {
		if !readFailure(hr) {
			t.Errorf("%#08x counts as a verdict", hr)
		}
	}
	for _, hr := range []uint32{hrSuccess, hrTrustNoSignature, hrTrustBadDigest, hrCertExpired, hrCryptRevoked, hrCertUntrustedRoot} {
		if readFailure(hr) {
			t.Errorf("%#08x counts as a read failure", hr)
		}
	}
}
