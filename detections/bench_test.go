package detections

import (
	"context"
	"fmt"
	"strings"
	"testing"

	sigma "github.com/bradleyjkemp/sigma-go"
	"github.com/bradleyjkemp/sigma-go/evaluator"
	"github.com/stretchr/testify/require"
)

// benchEvents builds a host-sized batch: procs processes with mods modules
// each, every process sharing its ProcessModules list across its events, the
// way the module_detections table will build them.
func benchEvents(procs, mods int) []Event {
	dirs := []string{`C:\Windows\System32\`, `C:\Program Files\Contoso\`, `C:\Windows\Microsoft.NET\Framework64\v4.0.30319\`, `C:\Users\bob\AppData\Local\Temp\`}
	images := []string{`C:\Windows\System32\svchost.exe`, `C:\Windows\System32\rundll32.exe`, `C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE`, `C:\Windows\System32\WerFault.exe`, `C:\Program Files\Contoso\app.exe`}
	var out []Event
	for p := range procs {
		names := make([]string, mods)
		for m := range mods {
			names[m] = fmt.Sprintf("Module%03d.dll", m)
		}
		names[0], names[1] = "ntdll.dll", "KERNEL32.DLL"
		img := images[p%len(images)]
		for m := range mods {
			out = append(out, Event{
				Platform: PlatformWindows, ProcessId: int64(1000 + p), Image: img,
				ImageLoaded: dirs[m%len(dirs)] + names[m], CommandLine: img + " -k netsvcs",
				ParentImage: `C:\Windows\System32\services.exe`, Signed: "true", SignatureStatus: "Valid",
				Hashes: "SHA256=00,IMPHASH=11", ProcessModules: names,
				UntrustedReasons: nil, InLoaderList: true,
			})
		}
	}
	return out
}

// BenchmarkMatch runs every built-in rule over 300 processes x 50 modules.
// "sigma-go" is the same Windows rules through sigma-go v0.6.6's own
// evaluator (list fields mapped through a config, as it needs), over events
// already converted to maps: the baseline the compiled engine is measured
// against, in the same run.
func BenchmarkMatch(b *testing.B) {
	events := benchEvents(300, 50)
	e, _, err := Load(true, nil)
	require.NoError(b, err)

	b.Run("engine", func(b *testing.B) {
		var buf []Match
		b.ReportAllocs()
		for b.Loop() {
			for i := range events {
				buf = e.MatchAppend(buf[:0], &events[i])
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(events)), "ns/event")
	})

	b.Run("sigma-go", func(b *testing.B) {
		var evals []*evaluator.RuleEvaluator
		for _, c := range e.byPlatform[PlatformWindows] {
			data, err := builtinRules.ReadFile(strings.TrimPrefix(c.rule.Source, "builtin:"))
			require.NoError(b, err)
			r, err := sigma.ParseRule(data)
			require.NoError(b, err)
			evals = append(evals, evaluator.ForRule(r, evaluator.WithConfig(sigmaGoConfig)))
		}
		maps := make([]map[string]any, len(events))
		for i := range events {
			maps[i] = events[i].Fields()
		}
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			for _, m := range maps {
				for _, ev := range evals {
					if _, err := ev.Matches(ctx, m); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(events)), "ns/event")
	})
}
