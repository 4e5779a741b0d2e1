package untrusted

import (
	"errors"

	"golang.org/x/sys/windows"

	"github.com/modhunt/modhunt/internal/platform"
	"github.com/modhunt/modhunt/tables/trust"
)

// defaultPolicy is the built-in policy for an inventory of platform: for
// this host's processes the Windows defaults over this installation's
// folders (GetSystemWindowsDirectory and the known folders, never the
// environment, which whoever starts modhunt controls); for another OS's
// processes an empty one (nothing trusted).
func defaultPolicy(_ trust.Host, goos string) (*trust.Policy, error) {
	if goos != platform.Windows {
		return &trust.Policy{Source: "built-in"}, nil
	}
	dirs, err := windowsDirs()
	return trust.Windows(dirs), err
}

// windowsDirs reads the folders the defaults are made of; one that cannot
// be read keeps the stock installation's, and the error says which.
func windowsDirs() (trust.WindowsDirs, error) {
	d := trust.DefaultWindowsDirs
	var errs []error
	if root, err := windows.GetSystemWindowsDirectory(); err == nil {
		d.SystemRoot = root
	} else {
		errs = append(errs, err)
	}
	for _, k := range []struct {
		id  *windows.KNOWNFOLDERID
		dst *string
	}{
		{windows.FOLDERID_ProgramFiles, &d.ProgramFiles},
		{windows.FOLDERID_ProgramFilesX86, &d.ProgramFilesX86},
		{windows.FOLDERID_UserProfiles, &d.UserProfiles},
	} {
		p, err := windows.KnownFolderPath(k.id, windows.KF_FLAG_DEFAULT)
		if err == nil && p != "" {
			*k.dst = p
		} else if err != nil {
			errs = append(errs, err)
		}
	}
	return d, errors.Join(errs...)
}
