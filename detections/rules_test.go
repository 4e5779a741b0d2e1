package detections

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/modhunt/modhunt/internal/platform"
)

// ptRules are the MaxPatrol SIEM rules for T1129 the Windows content mirrors.
var ptRules = []string{
	"PT-CR-642", "PT-CR-644", "PT-CR-646", "PT-CR-1207", "PT-CR-1751", "PT-CR-1726",
	"PT-CR-933", "PT-CR-755", "PT-CR-756", "PT-CR-299", "PT-CR-303",
}

// neighbourTags are the ATT&CK techniques next to T1129 a rule may carry
// instead of attack.t1129 itself (README.md, "Rule content").
var neighbourTags = regexp.MustCompile(`^attack\.(t1129|t1574(\.\d{3})?|t1055(\.\d{3})?|t1620|t1059\.001|t1127\.001|t1003\.001|t1003\.006|t1087\.002)$`)

var uuidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

type ruleFile struct {
	path     string // rules/<os>/<stem>.yml (package platform's names)
	platform string
	stem     string
	data     []byte
}

func builtinFiles(t *testing.T) []ruleFile {
	t.Helper()
	var out []ruleFile
	require.NoError(t, fs.WalkDir(builtinRules, "rules", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		require.True(t, isRuleFile(p), "only rule files belong under rules/: %s", p)
		data, err := builtinRules.ReadFile(p)
		require.NoError(t, err)
		out = append(out, ruleFile{path: p, platform: path.Base(path.Dir(p)),
			stem: strings.TrimSuffix(path.Base(p), path.Ext(p)), data: data})
		return nil
	}))
	require.NotEmpty(t, out)
	return out
}

func TestBuiltinRuleMetadata(t *testing.T) {
	t.Parallel()
	ids := map[string]string{}
	covered := map[string]bool{}
	for _, f := range builtinFiles(t) {
		t.Run(f.path, func(t *testing.T) {
			var m struct {
				Title          string   `yaml:"title"`
				ID             string   `yaml:"id"`
				Status         string   `yaml:"status"`
				Description    string   `yaml:"description"`
				References     []string `yaml:"references"`
				Author         string   `yaml:"author"`
				Date           string   `yaml:"date"`
				Tags           []string `yaml:"tags"`
				Level          string   `yaml:"level"`
				FalsePositives []string `yaml:"falsepositives"`
				Logsource      struct {
					Category string `yaml:"category"`
					Product  string `yaml:"product"`
				} `yaml:"logsource"`
				SiemRule any `yaml:"siem_rule"`
			}
			require.NoError(t, yaml.Unmarshal(f.data, &m))
			assert.Regexp(t, uuidRe, m.ID, "id is a random UUID")
			if first, dup := ids[m.ID]; dup {
				t.Errorf("id %s also used by %s", m.ID, first)
			}
			ids[m.ID] = f.path
			assert.NotEmpty(t, m.Title)
			assert.NotEmpty(t, strings.TrimSpace(m.Description))
			assert.NotEmpty(t, m.References)
			assert.Equal(t, "modhunt", m.Author)
			assert.Regexp(t, `^\d{4}-\d{2}-\d{2}$`, m.Date)
			assert.Contains(t, []string{"experimental", "test", "stable"}, m.Status)
			assert.Contains(t, []string{"informational", "low", "medium", "high", "critical"}, m.Level)
			assert.NotEmpty(t, m.FalsePositives)
			assert.Equal(t, "image_load", m.Logsource.Category)
			productOS, _ := platform.FromSigmaProduct(m.Logsource.Product)
			assert.Equal(t, f.platform, productOS, "a rule's folder is the OS its product selects")
			hasTag := false
			for _, tag := range m.Tags {
				hasTag = hasTag || neighbourTags.MatchString(tag)
			}
			assert.True(t, hasTag, "tags %v need attack.t1129 or a neighbour", m.Tags)

			siem := stringList(m.SiemRule)
			for _, s := range siem {
				assert.Regexp(t, `^PT-CR-\d+$`, s)
				covered[s] = true
			}
			if f.platform == PlatformWindows {
				assert.NotEmpty(t, siem, "Windows rules mirror a PT-CR rule")
			}
			// The header comment says what a module snapshot sees of the
			// behaviour and what it cannot.
			header := string(f.data[:strings.Index(string(f.data), "\ntitle:")])
			assert.True(t, strings.HasPrefix(header, "#"), "rule starts with its comment")
			assert.Contains(t, header, "snapshot sees")
			assert.Contains(t, header, "cannot see")
		})
	}
	for _, pt := range ptRules {
		assert.True(t, covered[pt], "%s has no rule", pt)
	}
}

// TestBuiltinRuleFixtures runs every rule's positive and negative events:
// testdata/<platform>/<rule file stem>/{match,nomatch}.jsonl.
func TestBuiltinRuleFixtures(t *testing.T) {
	t.Parallel()
	e, rep, err := Load(true, nil)
	require.NoError(t, err)
	require.Empty(t, rep.Skipped)
	byID := map[string]*Rule{}
	bySource := map[string]*Rule{}
	for _, r := range e.Rules() {
		byID[r.ID] = r
		bySource[r.Source] = r
	}
	seen := map[string]bool{}
	for _, f := range builtinFiles(t) {
		rule := bySource["builtin:"+f.path]
		require.NotNil(t, rule, f.path)
		dir := filepath.Join("testdata", f.platform, f.stem)
		seen[dir] = true
		for _, kind := range []string{"match", "nomatch"} {
			file := filepath.Join(dir, kind+".jsonl")
			t.Run(file, func(t *testing.T) {
				fh, err := os.Open(file)
				require.NoError(t, err, "every rule needs %s", file)
				defer fh.Close()
				st, err := ReadEvents(fh, file, "", func(line int, ev *Event) error {
					hit := false
					for _, m := range e.Match(ev) {
						hit = hit || m.Rule.ID == rule.ID
					}
					if kind == "match" {
						assert.True(t, hit, "%s:%d should match %q", file, line, rule.Title)
					} else {
						assert.False(t, hit, "%s:%d should not match %q", file, line, rule.Title)
					}
					return nil
				})
				require.NoError(t, err)
				assert.Positive(t, st.Events, "%s has no events", file)
			})
		}
	}
	// No fixture folder without its rule (a renamed rule leaves one behind).
	// testdata/fuzz holds the fuzz seed corpora.
	dirs, _ := filepath.Glob(filepath.Join("testdata", "*", "*"))
	for _, d := range dirs {
		parent := filepath.Base(filepath.Dir(d))
		if st, err := os.Stat(d); err == nil && st.IsDir() && !strings.HasPrefix(parent, "_") && parent != "fuzz" {
			assert.True(t, seen[d], "%s has no rule under rules/", d)
		}
	}
}

// TestSIEMRulesFireOnTheirEvidence replays, for each of the eleven PT-CR
// rules, canonical module-load events of the behaviour it names:
// testdata/_siem/<PT-CR id>/direct.jsonl holds the plainest evidence (what
// every snapshot of the attack shows), subtle.jsonl the variants and
// evasions, benign.jsonl the look-alikes of healthy hosts. Every direct and
// subtle event must be matched by at least one built-in rule that mirrors
// that PT-CR id, and no benign event by any of them. Unlike the per-rule
// fixtures, this does not depend on which rule file covers an event, so a
// behaviour no rule catches fails here.
func TestSIEMRulesFireOnTheirEvidence(t *testing.T) {
	t.Parallel()
	e, _, err := Load(true, nil)
	require.NoError(t, err)
	for _, pt := range ptRules {
		t.Run(pt, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join("testdata", "_siem", pt)
			for _, kind := range []string{"direct", "subtle", "benign"} {
				file := filepath.Join(dir, kind+".jsonl")
				fh, err := os.Open(file)
				if kind == "subtle" && os.IsNotExist(err) {
					continue
				}
				require.NoError(t, err, "%s needs %s", pt, file)
				st, err := ReadEvents(fh, file, "", func(line int, ev *Event) error {
					var by []string
					for _, m := range e.Match(ev) {
						for _, s := range m.Rule.SiemRules {
							if s == pt {
								by = append(by, m.Rule.Title)
							}
						}
					}
					if kind == "benign" {
						assert.Empty(t, by, "%s:%d: a benign look-alike fires %s rules", file, line, pt)
					} else {
						assert.NotEmpty(t, by, "%s:%d: no %s rule fires on this %s evidence", file, line, pt, kind)
					}
					return nil
				})
				_ = fh.Close()
				require.NoError(t, err)
				assert.Positive(t, st.Events, "%s has no events", file)
			}
		})
	}
}
