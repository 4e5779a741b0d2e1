package loadsource

import "testing"

// TestOnlyTypedProgramsCallKfuncs: a kernel before 6.2 has no
// bpf_rdonly_cast, and a program that calls a kfunc the kernel lacks does
// not load. The typed program has a fallback for that; every other program
// must load there as it is, so none of them (with the subprograms linked
// into it) may call a kfunc.
func TestOnlyTypedProgramsCallKfuncs(t *testing.T) {
	spec, err := loadLoadsource()
	if err != nil {
		t.Fatal(err)
	}
	typed := map[string]bool{}
	for _, h := range hookSpecs {
		if h.fallback != "" {
			typed[h.program] = true
		}
	}
	if len(typed) == 0 {
		t.Fatal("no hook has a fallback program")
	}
	for name, p := range spec.Programs {
		calls := 0
		for _, ins := range p.Instructions {
			if ins.IsKfuncCall() {
				calls++
			}
		}
		switch {
		case typed[name] && calls == 0:
			t.Errorf("%s calls no kfunc: its reads are not plain loads", name)
		case !typed[name] && calls > 0:
			t.Errorf("%s calls %d kfunc(s): it would not load where the typed program falls back", name, calls)
		}
	}
}
