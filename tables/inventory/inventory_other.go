//go:build !linux && !windows

package inventory

import (
	"context"
	"os"
	"runtime"

	"github.com/modhunt/modhunt/tables/fileinfo"
)

// Inventory is unsupported on this platform: every method returns
// ErrUnsupported.
type Inventory struct{ cfg Config }

// New returns an Inventory; on this platform its methods return
// ErrUnsupported.
func New(cfg Config) *Inventory { return &Inventory{cfg: cfg.withDefaults()} }

// Walk returns ErrUnsupported.
func (inv *Inventory) Walk(context.Context, []int, func(*Process) error) error { return ErrUnsupported }

// WalkDetail returns ErrUnsupported.
func (inv *Inventory) WalkDetail(context.Context, []int, Detail, func(*Process) error) error {
	return ErrUnsupported
}

// Processes returns ErrUnsupported.
func (inv *Inventory) Processes(context.Context, []int) ([]Process, error) {
	return nil, ErrUnsupported
}

// OpenModule returns ErrUnsupported.
func (inv *Inventory) OpenModule(int, *Module) (*os.File, error) { return nil, ErrUnsupported }

// StatModule returns ErrUnsupported.
func (inv *Inventory) StatModule(int, *Module) (FileInfo, error) { return FileInfo{}, ErrUnsupported }

// ModuleFSType returns ErrUnsupported.
func (inv *Inventory) ModuleFSType(int, *Module) (string, error) { return "", ErrUnsupported }

// Environ returns ErrUnsupported.
func (inv *Inventory) Environ(int, int) ([]string, bool, error) { return nil, false, ErrUnsupported }

// ReadFile returns ErrUnsupported.
func (inv *Inventory) ReadFile(int, string, int) ([]byte, bool, error) {
	return nil, false, ErrUnsupported
}

// Files is the file-facts cache.
func (inv *Inventory) Files() *fileinfo.Cache { return inv.cfg.Files }

// Regions returns ErrUnsupported.
func (inv *Inventory) Regions(context.Context, int) ([]Region, error) { return nil, ErrUnsupported }

// OpenMemory returns ErrUnsupported.
func (inv *Inventory) OpenMemory(int) (Memory, error) { return nil, ErrUnsupported }

// Platform is this OS.
func (inv *Inventory) Platform() string { return runtime.GOOS }
