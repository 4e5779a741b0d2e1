package winproc

import "errors"

// MaxVerifySize bounds the files Verify hashes: WinVerifyTrust reads the
// whole file and cannot be interrupted. The largest DLLs of common software
// (a browser's main DLL) are a few hundred megabytes.
const MaxVerifySize = 1 << 30

// ErrTooLarge is Verify's error for a file past MaxVerifySize.
var ErrTooLarge = errors.New("file too large to verify")

// Signature is the Authenticode verdict on one file, in the fields of Sysmon's
// image-load event (Event ID 7): Signed, SignatureStatus and Signature.
type Signature struct {
	// Signed: the file carries a signature, embedded or through a catalog,
	// whether or not it verifies (Sysmon reports Signed true with
	// SignatureStatus Expired).
	Signed bool
	// Status is Sysmon's SignatureStatus word (StatusValid, ...).
	Status string
	// Subject is the signer certificate's subject name (Sysmon's Signature
	// field, "Microsoft Windows"), empty when there is no signer.
	Subject string
	// Catalog: the verdict comes from a catalog file, not an embedded
	// signature (most of System32).
	Catalog bool
	// Result is WinVerifyTrust's HRESULT, kept so an unusual verdict can be
	// told apart from the common ones behind the same word.
	Result uint32
}

// Sysmon's SignatureStatus words. Sysmon does not document its vocabulary;
// Valid, Expired, Revoked and Unavailable are the words its events carry and
// SigmaHQ's image_load rules match on. Untrusted, Invalid and Disallowed are
// this package's words for the remaining WinVerifyTrust outcomes, kept apart
// because a hunter treats them differently. (errorChaining, errorExpired,
// trusted and errorCode_endpoint, which some Sigma rules also list, are
// Elastic Endpoint's words, not Sysmon's.)
const (
	StatusValid       = "Valid"       // the signature verifies to a trusted root
	StatusExpired     = "Expired"     // a certificate of the chain has expired (and no timestamp saves it)
	StatusRevoked     = "Revoked"     // a certificate of the chain is revoked
	StatusUnavailable = "Unavailable" // no signature, embedded or in a catalog
	StatusUntrusted   = "Untrusted"   // the chain ends at a root this host does not trust, or is explicitly distrusted
	StatusInvalid     = "Invalid"     // the signature is there but broken: wrong digest (the file was changed), malformed, or another failure
	StatusDisallowed  = "Disallowed"  // local policy forbids trusting it (CRYPT_E_SECURITY_SETTINGS)
)

// HRESULTs WinVerifyTrust returns (winerror.h).
const (
	hrSuccess                 = 0x00000000
	hrTrustNoSignature        = 0x800B0100 // TRUST_E_NOSIGNATURE
	hrTrustSubjectFormUnknown = 0x800B0003 // TRUST_E_SUBJECT_FORM_UNKNOWN: not a signable file type
	hrTrustProviderUnknown    = 0x800B0001 // TRUST_E_PROVIDER_UNKNOWN
	hrTrustSubjectNotTrusted  = 0x800B0004 // TRUST_E_SUBJECT_NOT_TRUSTED
	hrTrustBadDigest          = 0x80096010 // TRUST_E_BAD_DIGEST
	hrTrustNoSignerCert       = 0x80096002 // TRUST_E_NO_SIGNER_CERT
	hrTrustCounterSigner      = 0x80096003 // TRUST_E_COUNTER_SIGNER
	hrTrustCertSignature      = 0x80096004 // TRUST_E_CERT_SIGNATURE
	hrTrustTimeStamp          = 0x80096005 // TRUST_E_TIME_STAMP
	hrTrustExplicitDistrust   = 0x800B0111 // TRUST_E_EXPLICIT_DISTRUST
	hrCertExpired             = 0x800B0101 // CERT_E_EXPIRED
	hrCertValidityNesting     = 0x800B0102 // CERT_E_VALIDITYPERIODNESTING
	hrCertRevoked             = 0x800B010C // CERT_E_REVOKED
	hrCertUntrustedRoot       = 0x800B0109 // CERT_E_UNTRUSTEDROOT
	hrCertChaining            = 0x800B010A // CERT_E_CHAINING
	hrCertUntrustedTestRoot   = 0x800B010D // CERT_E_UNTRUSTEDTESTROOT
	hrCertUntrustedCA         = 0x800B0112 // CERT_E_UNTRUSTEDCA
	hrCertWrongUsage          = 0x800B0110 // CERT_E_WRONG_USAGE
	hrCryptRevoked            = 0x80092010 // CRYPT_E_REVOKED
	hrCryptSecuritySettings   = 0x80092026 // CRYPT_E_SECURITY_SETTINGS
)

// VerdictFromResult maps a WinVerifyTrust HRESULT to Sysmon's Signed and
// SignatureStatus. An HRESULT it does not know counts as a signature that is
// there and does not verify (Invalid): a file WinVerifyTrust found nothing to
// verify in answers TRUST_E_NOSIGNATURE or TRUST_E_SUBJECT_FORM_UNKNOWN, and
// calling an unknown failure "not signed" would hide a tampered signature.
func VerdictFromResult(hr uint32) (signed bool, status string) {
	switch hr {
	case hrSuccess:
		return true, StatusValid
	case hrTrustNoSignature, hrTrustSubjectFormUnknown, hrTrustProviderUnknown:
		return false, StatusUnavailable
	case hrCertExpired, hrCertValidityNesting:
		return true, StatusExpired
	case hrCertRevoked, hrCryptRevoked:
		return true, StatusRevoked
	case hrCertUntrustedRoot, hrCertChaining, hrCertUntrustedTestRoot, hrCertUntrustedCA,
		hrTrustExplicitDistrust, hrTrustSubjectNotTrusted:
		return true, StatusUntrusted
	case hrCryptSecuritySettings:
		return true, StatusDisallowed
	default:
		// TRUST_E_BAD_DIGEST, TRUST_E_NO_SIGNER_CERT, TRUST_E_CERT_SIGNATURE,
		// TRUST_E_COUNTER_SIGNER, TRUST_E_TIME_STAMP, CERT_E_WRONG_USAGE and
		// anything else.
		return true, StatusInvalid
	}
}

// noSignature says whether hr means WinVerifyTrust found no embedded
// signature to verify, so the catalogs are worth asking.
func noSignature(hr uint32) bool {
	return hr == hrTrustNoSignature || hr == hrTrustSubjectFormUnknown || hr == hrTrustProviderUnknown
}

// readFailure says whether hr is no verdict at all but a failure to read the
// file: a Win32 error code (Wine returns those bare: 2 for a missing file)
// or one wrapped as an HRESULT (0x8007xxxx, HRESULT_FROM_WIN32). Such a file
// is neither signed nor unsigned, and VerdictFromResult would call it
// Invalid.
func readFailure(hr uint32) bool {
	return hr != hrSuccess && (hr < 0x10000 || hr&0xffff0000 == 0x80070000)
}
