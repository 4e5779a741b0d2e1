package detections

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	sigma "github.com/bradleyjkemp/sigma-go"
	"github.com/bradleyjkemp/sigma-go/evaluator"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSigmaHQAgreesWithSigmaGo compares this engine with sigma-go's own
// evaluator on SigmaHQ's image_load rules, over events built from every
// rule's own values (so selections and filters really fire). Rules whose
// values use wildcards or escapes, and rules sigma-go cannot evaluate (null),
// are counted and left out: there the two differ by design (README.md).
func TestSigmaHQAgreesWithSigmaGo(t *testing.T) {
	_, dirs := sigmaHQ(t, "compare with sigma-go")
	var files []string
	for _, dir := range dirs {
		m, _ := filepath.Glob(filepath.Join(dir, "*.yml"))
		files = append(files, m...)
	}
	require.NotEmpty(t, files)

	type pair struct {
		ours   *Engine
		theirs *evaluator.RuleEvaluator
		title  string
	}
	var pairs []pair
	var events []Event
	special := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		r, err := sigma.ParseRule(data)
		require.NoError(t, err, f)
		c, err := parseRule(data, f)
		require.NoError(t, err, f)
		events = append(events, eventsFromRule(r)...)
		if hasSpecialValues(r) {
			special++
			continue
		}
		e := &Engine{byPlatform: map[string][]*compiled{}}
		e.keep(c)
		pairs = append(pairs, pair{e, evaluator.ForRule(r, evaluator.WithConfig(sigmaGoConfig)), r.Title})
	}
	ctx := context.Background()
	compared, agreed, positives, nullRules := 0, 0, 0, map[string]bool{}
	for i := range events {
		m := sigmaGoEvent(&events[i])
		for _, p := range pairs {
			res, err := p.theirs.Matches(ctx, m)
			if err != nil {
				nullRules[p.title] = true
				continue
			}
			ours := len(p.ours.Match(&events[i])) > 0
			compared++
			if ours == res.Match {
				agreed++
			} else {
				t.Errorf("%q: engine %v, sigma-go %v on %+v", p.title, ours, res.Match, m)
			}
			if ours {
				positives++
			}
		}
	}
	// The rules sigma-go cannot evaluate run here: count their matches.
	nullMatches := 0
	for _, p := range pairs {
		if !nullRules[p.title] {
			continue
		}
		for i := range events {
			if len(p.ours.Match(&events[i])) > 0 {
				nullMatches++
			}
		}
	}
	t.Logf("rules with null: %d matches over the same events", nullMatches)
	assert.Positive(t, nullMatches)
	t.Logf("rules: %d compared, %d left out for wildcards/escapes, %d that sigma-go cannot evaluate (null)", len(pairs)-len(nullRules), special, len(nullRules))
	t.Logf("evaluations: %d compared over %d events, %d agreed, %d matches", compared, len(events), agreed, positives)
	assert.Positive(t, positives)
}

// eventsFromRule builds one event per detection item, taking each field's
// first value (and, for |all, every value) shaped to satisfy its modifier.
func eventsFromRule(r sigma.Rule) []Event {
	var out []Event
	for _, s := range r.Detection.Searches {
		for _, em := range s.EventMatchers {
			for pick := range 2 {
				ev := Event{Platform: PlatformWindows}
				for _, fm := range em {
					var vals []string
					for _, v := range fm.Values {
						if sv, err := scalarString(v); err == nil && v != nil {
							vals = append(vals, sv)
						}
					}
					if len(vals) == 0 {
						continue
					}
					v := vals[min(pick*(len(vals)-1), len(vals)-1)]
					if len(fm.Modifiers) > 0 && fm.Modifiers[len(fm.Modifiers)-1] == "all" {
						v = strings.Join(vals, " ")
					}
					for _, mod := range fm.Modifiers {
						switch mod {
						case "endswith":
							v = `C:\prefix` + v
						case "startswith":
							v += `suffix`
						case "contains":
							v = "x" + v + "y"
						}
					}
					if i, ok := lookupField(fm.Field); ok && fields[i].kind == kindList {
						v = "other.dll," + v
					}
					ev.Set(fm.Field, v)
				}
				out = append(out, ev)
			}
		}
	}
	return out
}

func hasSpecialValues(r sigma.Rule) bool {
	for _, s := range r.Detection.Searches {
		for _, em := range s.EventMatchers {
			for _, fm := range em {
				for _, v := range fm.Values {
					if sv, ok := v.(string); ok && (strings.ContainsAny(sv, "*?") || strings.Contains(sv, `\\`)) {
						return true
					}
				}
			}
		}
	}
	return false
}

// sigmaGoEvent is the event as sigma-go reads it: every known field present
// (empty text as ""), lists as lists, plus Extra.
func sigmaGoEvent(ev *Event) map[string]any {
	m := map[string]any{}
	for _, f := range fields {
		switch f.kind {
		case kindText:
			m[f.name] = f.text(ev)
		case kindInt:
			m[f.name] = f.num(ev)
		case kindBool:
			m[f.name] = f.flag(ev)
		case kindList:
			m[f.name] = *f.list(ev)
		}
	}
	for k, v := range ev.Extra {
		m[k] = v
	}
	return m
}
