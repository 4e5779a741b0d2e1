// Package winproc reads what a Windows host knows about its processes and
// their modules: Toolhelp process and module snapshots, the VirtualQueryEx
// memory view with the files behind image and mapped regions, process context
// from the token and the PEB, and Authenticode verdicts through WinVerifyTrust
// with catalog lookup. It is the layer beneath the Windows inventory and file
// facts (issue 11); the OS-neutral inventory types of issue 10 adapt it.
//
// The files without an OS suffix are pure (path translation and
// classification, the WinVerifyTrust-to-Sysmon mapping, integrity levels,
// grouping regions into image mappings) and are tested on every OS. The
// *_windows.go files call the Win32 and NT APIs. See README.md.
package winproc
