// Command packgen writes the osquery packs and Fleet GitOps files generated
// from packs/hunts/ (`make packs`). With -check it writes nothing and exits 1
// when a committed output differs from a fresh generation.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/modhunt/modhunt/packs"
)

func main() {
	dir := flag.String("dir", "packs", "the packs/ directory to write the outputs into")
	check := flag.Bool("check", false, "compare instead of writing; exit 1 on a difference")
	flag.Parse()
	os.Exit(run(*dir, *check))
}

func run(dir string, check bool) int {
	hunts, err := packs.Load()
	if err != nil {
		fmt.Fprintln(os.Stderr, "packgen:", err)
		return 2
	}
	out, err := packs.Generate(hunts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "packgen:", err)
		return 2
	}
	stale := 0
	for _, rel := range packs.OutputFiles() {
		path := filepath.Join(dir, filepath.FromSlash(rel))
		if check {
			old, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(old, out[rel]) {
				fmt.Fprintf(os.Stderr, "packgen: %s is stale; run make packs (go run ./packs/cmd/packgen)\n", path)
				stale++
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "packgen:", err)
			return 2
		}
		if err := os.WriteFile(path, out[rel], 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "packgen:", err)
			return 2
		}
	}
	if stale > 0 {
		return 1
	}
	if !check {
		fmt.Printf("packgen: %d hunts -> %d files in %s\n", len(hunts), len(out), dir)
	}
	return 0
}
