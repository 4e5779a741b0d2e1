package winproc

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
)

var (
	modwintrust                              = windows.NewLazySystemDLL("wintrust.dll")
	procCryptCATAdminAcquireContext          = modwintrust.NewProc("CryptCATAdminAcquireContext")
	procCryptCATAdminAcquireContext2         = modwintrust.NewProc("CryptCATAdminAcquireContext2")
	procCryptCATAdminCalcHashFromFileHandle  = modwintrust.NewProc("CryptCATAdminCalcHashFromFileHandle")
	procCryptCATAdminReleaseContext          = modwintrust.NewProc("CryptCATAdminReleaseContext")
	procCryptCATAdminCalcHashFromFileHandle2 = modwintrust.NewProc("CryptCATAdminCalcHashFromFileHandle2")
	procCryptCATAdminEnumCatalogFromHash     = modwintrust.NewProc("CryptCATAdminEnumCatalogFromHash")
	procCryptCATAdminReleaseCatalogContext   = modwintrust.NewProc("CryptCATAdminReleaseCatalogContext")
	procCryptCATCatalogInfoFromContext       = modwintrust.NewProc("CryptCATCatalogInfoFromContext")
	procWTHelperProvDataFromStateData        = modwintrust.NewProc("WTHelperProvDataFromStateData")
	procWTHelperGetProvSignerFromChain       = modwintrust.NewProc("WTHelperGetProvSignerFromChain")
)

// DRIVER_ACTION_VERIFY, the policy catalogs are looked up under.
var driverActionVerify = windows.GUID{Data1: 0xf750e6c3, Data2: 0x38ee, Data3: 0x11d1, Data4: [8]byte{0x85, 0xe5, 0x00, 0xc0, 0x4f, 0xc2, 0x95, 0xee}}

// wintrustCatalogInfo is WINTRUST_CATALOG_INFO.
type wintrustCatalogInfo struct {
	Size                 uint32
	CatalogVersion       uint32
	CatalogFilePath      *uint16
	MemberTag            *uint16
	MemberFilePath       *uint16
	MemberFile           windows.Handle
	CalculatedFileHash   *byte
	CalculatedFileHashSz uint32
	CatalogContext       uintptr
	CatAdmin             windows.Handle
}

// catalogInfo is CATALOG_INFO.
type catalogInfo struct {
	Size        uint32
	CatalogFile [windows.MAX_PATH]uint16
}

// cryptProviderSgnr is the head of CRYPT_PROVIDER_SGNR, as far as the
// signer's certificate chain.
type cryptProviderSgnr struct {
	Size       uint32
	VerifyAsOf windows.Filetime
	ChainLen   uint32
	Chain      *cryptProviderCert
}

// cryptProviderCert is the head of CRYPT_PROVIDER_CERT.
type cryptProviderCert struct {
	Size uint32
	Cert *windows.CertContext
}

// Verify is the Authenticode verdict on the file at path: its embedded
// signature, or, when it has none, the signature of a catalog that lists its
// hash (most of System32 is signed only through catalogs, and would
// otherwise all look unsigned). No network is used: revocation is not
// checked online (WTD_REVOKE_NONE) and nothing is fetched by URL
// (WTD_CACHE_ONLY_URL_RETRIEVAL), so a scan never waits on a CRL server;
// Revoked then comes only from what the host already knows. The error is
// for a file that could not be read at all.
func Verify(path string) (Signature, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return Signature{}, err
	}
	// WinVerifyTrust hashes the whole file and cannot be stopped; the size
	// is the only bound there is.
	var fa windows.Win32FileAttributeData
	if err := windows.GetFileAttributesEx(p, windows.GetFileExInfoStandard, (*byte)(unsafe.Pointer(&fa))); err != nil {
		return Signature{}, fmt.Errorf("stat %s: %w", path, err)
	}
	if size := int64(fa.FileSizeHigh)<<32 | int64(fa.FileSizeLow); size > MaxVerifySize {
		return Signature{}, fmt.Errorf("%s: %d bytes: %w", path, size, ErrTooLarge)
	}
	fi := windows.WinTrustFileInfo{Size: uint32(unsafe.Sizeof(windows.WinTrustFileInfo{})), FilePath: p}
	hr, subject := verifyTrust(windows.WTD_CHOICE_FILE, unsafe.Pointer(&fi))
	if readFailure(hr) {
		return Signature{}, fmt.Errorf("WinVerifyTrust(%s): %w", path, windows.Errno(hr&0xffff))
	}
	if !noSignature(hr) {
		return signature(hr, subject, false), nil
	}
	// No embedded signature: ask the catalogs, by SHA-256 first (Windows
	// 10's own catalogs), then by SHA-1 (older and third-party ones).
	for _, alg := range []string{"SHA256", ""} {
		sig, found, err := verifyCatalog(path, p, alg)
		if err != nil {
			return Signature{}, err
		}
		if found {
			return sig, nil
		}
	}
	return signature(hr, "", false), nil
}

func signature(hr uint32, subject string, catalog bool) Signature {
	signed, status := VerdictFromResult(hr)
	return Signature{Signed: signed, Status: status, Subject: subject, Catalog: catalog, Result: hr}
}

// verifyTrust runs WinVerifyTrust(WINTRUST_ACTION_GENERIC_VERIFY_V2) on a
// file or catalog member and returns its HRESULT and the signer's subject.
func verifyTrust(choice uint32, info unsafe.Pointer) (uint32, string) {
	data := windows.WinTrustData{
		Size:                            uint32(unsafe.Sizeof(windows.WinTrustData{})),
		UIChoice:                        windows.WTD_UI_NONE,
		RevocationChecks:                windows.WTD_REVOKE_NONE,
		UnionChoice:                     choice,
		FileOrCatalogOrBlobOrSgnrOrCert: info,
		StateAction:                     windows.WTD_STATEACTION_VERIFY,
		ProvFlags:                       windows.WTD_CACHE_ONLY_URL_RETRIEVAL,
	}
	err := windows.WinVerifyTrustEx(windows.InvalidHWND, &windows.WINTRUST_ACTION_GENERIC_VERIFY_V2, &data)
	var hr uint32
	if err != nil {
		var errno windows.Errno
		if errors.As(err, &errno) {
			hr = uint32(errno)
		} else {
			hr = 0x80004005 // E_FAIL
		}
	}
	subject := signerSubject(data.StateData)
	data.StateAction = windows.WTD_STATEACTION_CLOSE
	_ = windows.WinVerifyTrustEx(windows.InvalidHWND, &windows.WINTRUST_ACTION_GENERIC_VERIFY_V2, &data)
	return hr, subject
}

// signerSubject is the simple display name (the CN, else the O) of the
// first signer's certificate, from the state WinVerifyTrust kept.
func signerSubject(state windows.Handle) string {
	if state == 0 || procWTHelperProvDataFromStateData.Find() != nil || procWTHelperGetProvSignerFromChain.Find() != nil {
		return ""
	}
	prov, _, _ := procWTHelperProvDataFromStateData.Call(uintptr(state))
	if prov == 0 {
		return ""
	}
	sgnrPtr, _, _ := procWTHelperGetProvSignerFromChain.Call(prov, 0, 0, 0)
	if sgnrPtr == 0 {
		return ""
	}
	// The signer lives in WinVerifyTrust's state, outside Go's heap, until
	// WTD_STATEACTION_CLOSE; reading the pointer through memory keeps vet's
	// uintptr rule, which is about Go memory.
	sgnr := *(**cryptProviderSgnr)(unsafe.Pointer(&sgnrPtr))
	if sgnr.ChainLen == 0 || sgnr.Chain == nil || sgnr.Chain.Cert == nil {
		return ""
	}
	buf := make([]uint16, 512)
	n := windows.CertGetNameString(sgnr.Chain.Cert, windows.CERT_NAME_SIMPLE_DISPLAY_TYPE, 0, nil, &buf[0], uint32(len(buf)))
	if n <= 1 {
		return ""
	}
	return windows.UTF16ToString(buf[:n])
}

// catalogHook, when set (by tests), is told of every catalog lookup that got
// as far as asking for the file's hash: the algorithm, the hash's length and
// whether a catalog lists it.
var catalogHook func(alg string, hashLen int, found bool)

// verifyCatalog looks the file's hash (hashAlg, "" for SHA-1) up in the
// system catalogs and, when a catalog lists it, verifies the file as that
// catalog's member. found is false when no catalog lists it.
func verifyCatalog(path string, p *uint16, hashAlg string) (sig Signature, found bool, err error) {
	// SHA-256 needs the ...2 functions (Windows 8 and later; Wine 8 lacks
	// them); SHA-1 has the original pair everywhere. A wintrust.dll without
	// a function leaves that lookup out: LazyProc.Call would panic.
	acquire, calc := procCryptCATAdminAcquireContext2, procCryptCATAdminCalcHashFromFileHandle2
	if hashAlg == "" {
		acquire, calc = procCryptCATAdminAcquireContext, procCryptCATAdminCalcHashFromFileHandle
	}
	for _, p := range []*windows.LazyProc{acquire, calc, procCryptCATAdminReleaseContext,
		procCryptCATAdminEnumCatalogFromHash, procCryptCATAdminReleaseCatalogContext, procCryptCATCatalogInfoFromContext} {
		if p.Find() != nil {
			return Signature{}, false, nil
		}
	}
	var admin windows.Handle
	var r uintptr
	if hashAlg == "" {
		r, _, _ = acquire.Call(uintptr(unsafe.Pointer(&admin)), uintptr(unsafe.Pointer(&driverActionVerify)), 0)
	} else {
		alg, _ := windows.UTF16PtrFromString(hashAlg)
		r, _, _ = acquire.Call(uintptr(unsafe.Pointer(&admin)), uintptr(unsafe.Pointer(&driverActionVerify)), uintptr(unsafe.Pointer(alg)), 0, 0)
	}
	if r == 0 {
		// No catalog database for this algorithm: nothing lists the file.
		return Signature{}, false, nil
	}
	defer func() { _, _, _ = procCryptCATAdminReleaseContext.Call(uintptr(admin), 0) }()

	f, err := windows.CreateFile(p, windows.GENERIC_READ, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		nil, windows.OPEN_EXISTING, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		return Signature{}, false, fmt.Errorf("open %s: %w", path, err)
	}
	defer func() { _ = windows.CloseHandle(f) }()

	// The first call asks for the hash's size, the second for the hash.
	hashFile := func(size *uint32, hash *byte) uintptr {
		if hashAlg == "" {
			r, _, _ := calc.Call(uintptr(f), uintptr(unsafe.Pointer(size)), uintptr(unsafe.Pointer(hash)), 0)
			return r
		}
		r, _, _ := calc.Call(uintptr(admin), uintptr(f), uintptr(unsafe.Pointer(size)), uintptr(unsafe.Pointer(hash)), 0)
		return r
	}
	var size uint32
	_ = hashFile(&size, nil)
	if size == 0 || size > 64 {
		return Signature{}, false, nil
	}
	hash := make([]byte, size)
	if hashFile(&size, &hash[0]) == 0 {
		return Signature{}, false, nil
	}
	catInfo, _, _ := procCryptCATAdminEnumCatalogFromHash.Call(uintptr(admin), uintptr(unsafe.Pointer(&hash[0])), uintptr(size), 0, 0)
	if catalogHook != nil {
		catalogHook(hashAlg, len(hash), catInfo != 0)
	}
	if catInfo == 0 {
		return Signature{}, false, nil
	}
	defer func() { _, _, _ = procCryptCATAdminReleaseCatalogContext.Call(uintptr(admin), catInfo, 0) }()
	ci := catalogInfo{Size: uint32(unsafe.Sizeof(catalogInfo{}))}
	if r, _, _ := procCryptCATCatalogInfoFromContext.Call(catInfo, uintptr(unsafe.Pointer(&ci)), 0); r == 0 {
		return Signature{}, false, nil
	}
	// Catalogs name their members by the hash in upper-case hex.
	tag, _ := windows.UTF16PtrFromString(strings.ToUpper(hex.EncodeToString(hash)))
	info := wintrustCatalogInfo{
		Size:                 uint32(unsafe.Sizeof(wintrustCatalogInfo{})),
		CatalogFilePath:      &ci.CatalogFile[0],
		MemberTag:            tag,
		MemberFilePath:       p,
		MemberFile:           f,
		CalculatedFileHash:   &hash[0],
		CalculatedFileHashSz: size,
		CatAdmin:             admin,
	}
	hr, subject := verifyTrust(windows.WTD_CHOICE_CATALOG, unsafe.Pointer(&info))
	if readFailure(hr) {
		return Signature{}, false, fmt.Errorf("WinVerifyTrust(%s, catalog): %w", path, windows.Errno(hr&0xffff))
	}
	return signature(hr, subject, true), true, nil
}
