package main

// runExtension serves the tables to osqueryd (or prints --spec).
func runExtension(args []string, e env) int {
	_ = args
	_ = e
	return 0
}
