package untrusted

import "os"

// isFile cannot tell yet: the Windows inventory will compare the volume
// serial number and file index (GetFileInformationByHandleEx). Until then
// no file is taken for the judged one, and nothing is hashed.
func isFile(*os.File, uint64, uint64) bool { return false }
