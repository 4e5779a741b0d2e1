//go:build windows

package wine

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRemoveAllRemovesATree guards the runner's shim: Go 1.25+ deletes with
// FileDispositionInformationEx, which Wine 8 does not implement, and only the
// shim's translation of Wine's answer lets Go fall back, so without it every
// t.TempDir cleanup under Wine fails with "Invalid function".
func TestRemoveAllRemovesATree(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tree")
	sub := filepath.Join(dir, "a", "b")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(dir, "f"), filepath.Join(sub, "g")} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ro := filepath.Join(sub, "read-only")
	if err := os.WriteFile(ro, []byte("x"), 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatalf("RemoveAll: %v", err)
	}
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s still there after RemoveAll: %v", dir, err)
	}
}
