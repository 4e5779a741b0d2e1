package untrusted

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/modhunt/modhunt/tables/elfdyn"
	"github.com/modhunt/modhunt/tables/inventory"
)

const pg = 4096

// A synthetic top-down layout (addresses in pages, highest first): ld.so
// at the top, the kernel's vvar/vdso below it, ld.so's own anonymous
// memory, then whatever the case puts there, then libc (the executable's
// first DT_NEEDED).
var (
	kLibc  = fileKey{8, 1, 100}
	kLdso  = fileKey{8, 1, 101}
	kP     = fileKey{8, 1, 200}
	kQ     = fileKey{8, 1, 201}
	kData  = fileKey{8, 1, 300}
	kBig   = fileKey{8, 1, 400}
	cache9 = uint64(9 * pg)
)

type block struct {
	key   fileKey
	pages uint64
	kind  string // "file", "anon", "gap", "special"
}

// layoutOf lays blocks out top-down from a fixed ceiling and returns the
// vmas in ascending order.
func layoutOf(blocks ...block) []vma {
	addr := uint64(0x7f0000000)
	var out []vma
	for _, b := range blocks {
		lo := addr - b.pages*pg
		switch b.kind {
		case "file":
			out = append(out, vma{start: lo, end: addr, key: b.key, file: true})
		case "anon":
			out = append(out, vma{start: lo, end: addr})
		case "special":
			out = append(out, vma{start: lo, end: addr, special: true})
		}
		addr = lo
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func facts(vmas []vma, holes uint64, cands ...fileKey) *layoutFacts {
	cs := map[fileKey]bool{}
	for _, c := range cands {
		cs[c] = true
	}
	return &layoutFacts{
		vmas: vmas, interp: kLdso, top: kLibc, candidates: cs, holes: holes, pmd: 512 * pg,
		elf: func(k fileKey) bool { return k != kData },
		slack: func(k fileKey, _ uint64) (uint64, bool) {
			if k == kBig {
				return 1024 * pg, true // aligned to 2 MiB: room for a filler
			}
			return 0, true
		},
	}
}

func TestLayoutClaims(t *testing.T) {
	t.Parallel()
	top := []block{{kLdso, 40, "file"}, {kind: "special", pages: 6}, {kind: "anon", pages: 2}}
	with := func(bs ...block) []vma {
		all := append(append(append([]block{}, top...), bs...), block{kLibc, 470, "file"})
		return layoutOf(all...)
	}
	cases := []struct {
		name  string
		vmas  []vma
		cands []fileKey
		holes uint64
		want  []fileKey
	}{
		// ld.so mapped P, then the cache, then libc; the cache is gone.
		{"preload above the cache hole", with(block{kP, 5, "file"}, block{kind: "gap", pages: 9}), []fileKey{kP}, cache9, []fileKey{kP}},
		// A module dlopen()ed later took the top of the cache hole.
		{"dlopen in the cache hole", with(block{kP, 5, "file"}, block{kind: "gap", pages: 4}), []fileKey{kP}, cache9, nil},
		// Exactly filled: still a filler.
		{"dlopen filling the hole", with(block{kP, 9, "file"}), []fileKey{kP}, cache9, nil},
		// A data file (gconv-modules.cache) took 7 pages first; 2 are left.
		{"data file, then a 2-page dlopen", with(block{kData, 7, "file"}, block{kP, 2, "file"}), []fileKey{kP}, cache9, nil},
		{"data file under a preload", with(block{kP, 5, "file"}, block{kData, 7, "file"}, block{kind: "gap", pages: 2}), []fileKey{kP}, cache9, []fileKey{kP}},
		// Two modules: the preload fits no hole, the filler does.
		{"preload and a small filler", with(block{kP, 12, "file"}, block{kQ, 3, "file"}, block{kind: "gap", pages: 6}), []fileKey{kP, kQ}, cache9, []fileKey{kP}},
		// More room free than start-up leaves: something unknown unmapped
		// memory; no claim.
		{"unexplained gap", with(block{kP, 5, "file"}, block{kind: "gap", pages: 30}), []fileKey{kP}, cache9, nil},
		// A library aligned beyond the page leaves room a filler fits in.
		{"alignment slack", with(block{kBig, 3, "file"}, block{kP, 5, "file"}, block{kind: "gap", pages: 9}), []fileKey{kP}, cache9, nil},
	}
	for _, c := range cases {
		got := layoutClaims(facts(c.vmas, c.holes, c.cands...))
		var keys []fileKey
		for k := range got {
			keys = append(keys, k)
		}
		assert.ElementsMatch(t, c.want, keys, c.name)
	}
}

func TestElfSlack(t *testing.T) {
	t.Parallel()
	pmd := uint64(512 * pg)
	small := &elfdyn.Info{MapLength: 5 * pg, MaxAlign: pg}
	assert.Zero(t, elfSlack(small, 7*pg, pg, pmd))
	// glibc reserves 2 * p_align for a small object aligned to 2 MiB and
	// unmaps the rest; the reservation is itself large enough for the
	// kernel to align, which it did (the base is on a 2 MiB boundary).
	aligned := &elfdyn.Info{MapLength: 5 * pg, MaxAlign: pmd}
	assert.Equal(t, (2*pmd-5*pg+pg)+pmd, elfSlack(aligned, 4*pmd, pg, pmd))
	big := &elfdyn.Info{MapLength: pmd + pg, MaxAlign: pg}
	assert.Equal(t, pmd, elfSlack(big, 4*pmd, pg, pmd))
	assert.Zero(t, elfSlack(big, 4*pmd+pg, pg, pmd), "not on a boundary: the kernel did not align it")
}

func TestClosure(t *testing.T) {
	t.Parallel()
	mod := func(path string) *inventory.Module {
		return &inventory.Module{Path: path, Name: path[lastSlash(path)+1:]}
	}
	interp := mod("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
	libc := mod("/usr/lib/x86_64-linux-gnu/libc.so.6")
	expat := mod("/usr/lib/x86_64-linux-gnu/libexpat.so.1.8.10") // found through the libexpat.so.1 link
	pre := mod("/tmp/libpre.so")
	infos := map[*inventory.Module]*elfdyn.Info{
		interp: {Soname: "ld-linux-x86-64.so.2"},
		libc:   {Soname: "libc.so.6", Needed: []string{"ld-linux-x86-64.so.2"}},
		expat:  {Soname: "libexpat.so.1", Needed: []string{"libc.so.6"}},
		pre:    {},
	}
	exe := &elfdyn.Info{Needed: []string{"libexpat.so.1", "libc.so.6"}}
	in, complete := closure(exe, interp, []*inventory.Module{libc, expat, pre}, infos)
	assert.True(t, complete)
	assert.True(t, in[libc] && in[expat] && in[interp])
	assert.False(t, in[pre])

	// A DT_NEEDED that matches nothing mapped: the closure is unknown.
	_, complete = closure(&elfdyn.Info{Needed: []string{"libgone.so.1"}}, interp, []*inventory.Module{libc}, infos)
	assert.False(t, complete)
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}
