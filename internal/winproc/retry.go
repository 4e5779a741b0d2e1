package winproc

// retry calls f until it succeeds, fails with an error again does not
// accept, or has been called n times; it returns f's last answer. Windows
// asks callers to retry a module snapshot that fails with ERROR_BAD_LENGTH
// (the loader list changed mid-snapshot); a process that loads and unloads
// modules in a loop must not keep the caller there.
func retry[T any](n int, f func() (T, error), again func(error) bool) (T, error) {
	var v T
	var err error
	for range max(n, 1) {
		if v, err = f(); err == nil || !again(err) {
			break
		}
	}
	return v, err
}

// snapshotRetries bounds the calls for one module snapshot.
const snapshotRetries = 8

// bufferSizes are the sizes, in characters, a path buffer grows through:
// MAX_PATH first (almost every path fits), doubling, and last the longest
// path Windows has (32,767 characters and the NUL), which doubling alone
// would step over.
func bufferSizes() []int {
	const first, last = 260 + 1, 32767 + 1
	var sizes []int
	for n := first; n < last; n *= 2 {
		sizes = append(sizes, n)
	}
	return append(sizes, last)
}
