package untrusted

import (
	"errors"
	"fmt"

	"golang.org/x/sys/windows"

	"github.com/modhunt/modhunt/internal/winproc"
	"github.com/modhunt/modhunt/tables/imagefacts"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/trust"
)

// liveFacts asks this Windows host. The module file's own claims (version
// resource, signature) are read through imagefacts, the one place that
// parses and verifies module files, cached per file identity in the
// inventory's file-facts cache: a file process_loaded_modules or the module
// events already read costs nothing more here, and the other way round.
type liveFacts struct {
	src inventory.Source
}

func liveWindowsFacts(src inventory.Source) WindowsFacts {
	return &liveFacts{src: src}
}

func (f *liveFacts) LongPath(p string) (string, error) { return winproc.LongPath(p) }

// DriveRemote asks GetDriveTypeW about the path's drive root.
func (f *liveFacts) DriveRemote(p string) bool {
	if len(p) < 3 || p[1] != ':' || p[2] != '\\' {
		return false
	}
	root, err := windows.UTF16PtrFromString(p[:3])
	if err != nil {
		return false
	}
	return windows.GetDriveType(root) == windows.DRIVE_REMOTE
}

// OriginalFileName is the version resource's claim (imagefacts.ReadPE:
// pefacts, bounded in bytes and time, panics recovered).
func (f *liveFacts) OriginalFileName(pid int, m *inventory.Module) (string, error) {
	pe, err := imagefacts.ReadPE(f.src, pid, m)
	return pe.OriginalFileName, err
}

// Signature is WinVerifyTrust's verdict, embedded then catalogs
// (imagefacts.ReadSignature).
func (f *liveFacts) Signature(pid int, m *inventory.Module) (trust.SignatureFacts, error) {
	s, err := imagefacts.ReadSignature(f.src, pid, m)
	if err != nil {
		return trust.SignatureFacts{}, err
	}
	return SignatureFactsOf(winproc.Signature{Signed: s.Signed, Status: s.Status, Subject: s.Signer, Catalog: s.Catalog}), nil
}

// ProcessUser reads the process's token.
func (f *liveFacts) ProcessUser(pid int) (string, bool, error) { return processUser(pid) }

// DACL reads the object's owner and DACL.
func (f *liveFacts) DACL(p string) (DACL, error) { return readDACL(p) }

// processUser is the process's user SID, and whether the process runs
// without admin rights (not elevated) as a user that is not a service
// account.
func processUser(pid int) (string, bool, error) {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return "", false, err
	}
	defer func() { _ = windows.CloseHandle(h) }()
	var tok windows.Token
	if err := windows.OpenProcessToken(h, windows.TOKEN_QUERY, &tok); err != nil {
		return "", false, err
	}
	defer func() { _ = tok.Close() }()
	u, err := tok.GetTokenUser()
	if err != nil {
		return "", false, err
	}
	sid := u.User.Sid.String()
	switch sid {
	case "S-1-5-18", "S-1-5-19", "S-1-5-20": // SYSTEM, LOCAL SERVICE, NETWORK SERVICE
		return sid, false, nil
	}
	return sid, !tok.IsElevated(), nil
}

// readDACL reads an object's owner and DACL.
func readDACL(p string) (DACL, error) {
	sd, err := windows.GetNamedSecurityInfo(p, windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return DACL{}, fmt.Errorf("GetNamedSecurityInfoW(%s): %w", p, err)
	}
	var d DACL
	if owner, _, err := sd.Owner(); err == nil && owner != nil {
		d.Owner = owner.String()
	}
	acl, _, err := sd.DACL()
	if errors.Is(err, windows.ERROR_OBJECT_NOT_FOUND) || (err == nil && acl == nil) {
		// SE_DACL_PRESENT unset, or a NULL DACL: everyone may do anything.
		d.Null = true
		return d, nil
	}
	if err != nil {
		return DACL{}, fmt.Errorf("DACL of %s: %w", p, err)
	}
	for i := uint32(0); i < uint32(acl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(acl, i, &ace); err != nil {
			return DACL{}, fmt.Errorf("ACE %d of %s: %w", i, p, err)
		}
		var allow bool
		switch ace.Header.AceType {
		case windows.ACCESS_ALLOWED_ACE_TYPE:
			allow = true
		case windows.ACCESS_DENIED_ACE_TYPE:
		default:
			continue // object and callback ACEs: not on files
		}
		sid := (*windows.SID)(unsafePointer(&ace.SidStart))
		d.ACEs = append(d.ACEs, ACE{
			Allow: allow, InheritOnly: ace.Header.AceFlags&windows.INHERIT_ONLY_ACE != 0,
			Mask: uint32(ace.Mask), SID: sid.String(),
		})
	}
	return d, nil
}
