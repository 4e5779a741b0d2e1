// Package wine holds the live Windows suites that run under Wine on the Linux
// CI machine, through go_windows_amd64_exec (see README.md). Its tests are
// windows-only; on other systems the package is empty.
package wine
