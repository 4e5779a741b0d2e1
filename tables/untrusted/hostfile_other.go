//go:build !linux

package untrusted

import "os"

// hostFile is unsupported where the table does not run.
func hostFile(string, string) hostID { return hostID{} }

// isFile is unsupported where the table does not run.
func isFile(*os.File, uint64, uint64) bool { return false }
