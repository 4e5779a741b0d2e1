package osqueryhost

// removeStaleSocket has nothing to do on Windows: a named pipe disappears
// with the last handle to it.
func removeStaleSocket(string) {}
