package main

import "os"

const defaultFlagfile = `C:\Program Files\modhunt\modhunt.flags`

// checkSafe trusts the directory ACLs on Windows: osqueryd's own install
// directory rules (Administrators-only write) are what protect this file.
func checkSafe(os.FileInfo) error { return nil }
