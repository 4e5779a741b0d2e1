package unbacked

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/wine/winfix"
)

// TestWindowsVirtualAllocRWXHoldsPE: a child that VirtualAlloc()s
// PAGE_EXECUTE_READWRITE memory and copies a PE image into it (the first
// step of a reflective loader) has a row for that region through the
// Windows inventory (VirtualQueryEx, ReadProcessMemory): private, rwx,
// header pe, and the sha256 of the image's first page. Its image mappings
// (its own exe, ntdll, ...) are no rows.
func TestWindowsVirtualAllocRWXHoldsPE(t *testing.T) {
	dir := winfix.Dir(t)
	dll := filepath.Join(t.TempDir(), "payload.dll")
	winfix.CopyFile(t, filepath.Join(dir, "payload.dll"), dll)
	pid, addrs := winfix.Start(t, filepath.Join(dir, "rwximage.exe"), "copied", dll)

	s, err := NewScanner(Config{Inventory: inventory.New(inventory.Config{})})
	require.NoError(t, err)
	rows, err := s.generate(context.Background(), table.PIDQuery([]int{int(pid)}))
	require.NoError(t, err)
	byAddr := map[string]map[string]string{}
	for _, r := range rows {
		m := map[string]string{}
		for i, c := range Columns {
			m[c.Name] = r[i]
		}
		byAddr[m["address"]] = m
		assert.Contains(t, []string{TypePrivate, TypeMappedNonImage}, m["region_type"])
	}
	r := byAddr["0x"+strconv.FormatUint(addrs[0], 16)]
	require.NotNil(t, r, "the VirtualAlloc'd region at %#x: rows %v", addrs[0], byAddr)
	assert.Equal(t, TypePrivate, r["region_type"])
	assert.Equal(t, "rwx", r["protection"])
	assert.Equal(t, "pe", r["header"])
	assert.Equal(t, "0", r["is_dotnet"])
	img, err := os.ReadFile(dll)
	require.NoError(t, err)
	first := make([]byte, DefaultPageBytes)
	copy(first, img)
	assert.Equal(t, sha256Hex(first), r["sha256"])
	assert.Equal(t, strconv.Itoa(int(pid)), r["pid"])
	assert.Contains(t, r["process_path"], "rwximage.exe")
}
