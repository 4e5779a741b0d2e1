// Package winfix starts the mingw-built fixture programs of test/wine/fixtures
// for the live Windows suites (test/wine and internal/winproc), so the
// protocol those programs speak is read in one place. It is windows-only; on
// other systems the package is empty.
package winfix
