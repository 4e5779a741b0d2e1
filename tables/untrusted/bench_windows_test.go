package untrusted

import (
	"context"
	"errors"
	"testing"

	"github.com/modhunt/modhunt/tables/fileinfo"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/trust"
	"github.com/modhunt/modhunt/tables/verdict"
)

// noFacts answers nothing: the Windows judgement from the inventory alone
// (paths and loader list), the baseline the live facts are weighed against.
type noFacts struct{}

var errNoFacts = errors.New("no facts")

func (noFacts) LongPath(string) (string, error) { return "", errNoFacts }
func (noFacts) DriveRemote(string) bool         { return false }
func (noFacts) OriginalFileName(int, *inventory.Module) (string, error) {
	return "", errNoFacts
}
func (noFacts) Signature(int, *inventory.Module) (trust.SignatureFacts, error) {
	return trust.SignatureFacts{}, errNoFacts
}
func (noFacts) ProcessUser(int) (string, bool, error) { return "", false, errNoFacts }
func (noFacts) DACL(string) (DACL, error)             { return DACL{}, errNoFacts }

// BenchmarkWindowsJudge judges every process of this host: the inventory
// alone (paths-only, the baseline) against the live facts (DACLs, version
// resources, drive types; signatures of the modules in doubt), both over one
// shared inventory and file-facts cache, as a host serves them. Run under
// Wine: make wine-fixtures, then GOOS=windows go test -exec
// test/wine/go_windows_amd64_exec -run '^$' -bench WindowsJudge ./tables/untrusted/.
func BenchmarkWindowsJudge(b *testing.B) {
	files := fileinfo.New(0, 0)
	inv := inventory.New(inventory.Config{ModulesOnly: true, Files: files})
	for _, c := range []struct {
		name  string
		facts WindowsFacts
	}{{"paths-only", noFacts{}}, {"live-facts", nil}} {
		b.Run(c.name, func(b *testing.B) {
			j, err := NewJudge(Config{Inventory: inv, Files: files, WindowsFacts: c.facts, ShareWindow: -1})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := j.Judge(context.Background(), nil, 0, verdict.Everything); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
