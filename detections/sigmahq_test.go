package detections

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	sigma "github.com/bradleyjkemp/sigma-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// sigmaHQ returns the SigmaHQ/sigma checkout MODHUNT_SIGMA_RULES points at
// and those of its image_load rule folders that exist, or skips the test
// (saying it would do what) when the variable is unset.
func sigmaHQ(t *testing.T, what string) (root string, dirs []string) {
	t.Helper()
	root = os.Getenv("MODHUNT_SIGMA_RULES")
	if root == "" {
		t.Skip("set MODHUNT_SIGMA_RULES=/path/to/sigma (a SigmaHQ/sigma checkout) to " + what)
	}
	for _, sub := range []string{"rules/windows/image_load", "rules-threat-hunting/windows/image_load"} {
		if st, err := os.Stat(filepath.Join(root, sub)); err == nil && st.IsDir() {
			dirs = append(dirs, filepath.Join(root, sub))
		}
	}
	return root, dirs
}

// sigmaGoConfig is what sigma-go's evaluator needs to compare a list field
// element by element: a field mapping naming the field itself.
var sigmaGoConfig = sigma.Config{FieldMappings: map[string]sigma.FieldMapping{
	"ProcessModules":   {TargetNames: []string{"ProcessModules"}},
	"UntrustedReasons": {TargetNames: []string{"UntrustedReasons"}},
}}

// TestSigmaHQ loads SigmaHQ's image_load rules from a checkout and replays
// SigmaHQ's regression events against them. Point MODHUNT_SIGMA_RULES at the
// root of a SigmaHQ/sigma checkout (or at any folder of rules).
func TestSigmaHQ(t *testing.T) {
	root, dirs := sigmaHQ(t, "run the community rules")
	if len(dirs) == 0 {
		dirs = []string{root}
	}
	e, rep, err := Load(false, dirs)
	require.NoError(t, err)
	require.Empty(t, rep.FolderErrors)
	for _, s := range rep.Skipped {
		t.Logf("skipped %s", s)
	}
	t.Logf("SigmaHQ rules: %d loaded, %d skipped", rep.Loaded, len(rep.Skipped))
	assert.Empty(t, rep.Skipped, "every SigmaHQ image_load rule should load")
	require.NotZero(t, rep.Loaded)

	// Every loaded rule must evaluate against a realistic event without
	// trouble, on its platform.
	ev := &Event{Platform: PlatformWindows, Image: `C:\Windows\System32\rundll32.exe`,
		ImageLoaded: `C:\Windows\System32\comsvcs.dll`, Signed: "true", SignatureStatus: "Valid"}
	_ = e.Match(ev)

	infos, _ := filepath.Glob(filepath.Join(root, "regression_data", "*", "windows", "image_load", "*", "info.yml"))
	if len(infos) == 0 {
		t.Logf("no regression_data under %s: only loading was checked", root)
		return
	}
	byID := map[string]bool{}
	for _, r := range e.Rules() {
		byID[r.ID] = true
	}
	checked := 0
	for _, info := range infos {
		var meta struct {
			RuleMetadata []struct {
				ID    string `yaml:"id"`
				Title string `yaml:"title"`
			} `yaml:"rule_metadata"`
			Tests []struct {
				Type       string `yaml:"type"`
				MatchCount int    `yaml:"match_count"`
				Path       string `yaml:"path"`
			} `yaml:"regression_tests_info"`
		}
		data, err := os.ReadFile(info)
		require.NoError(t, err)
		require.NoError(t, yaml.Unmarshal(data, &meta), info)
		for _, rm := range meta.RuleMetadata {
			if !byID[rm.ID] {
				continue // a rule outside the folders loaded here
			}
			for _, tc := range meta.Tests {
				jsonPath := filepath.Join(root, strings.TrimSuffix(tc.Path, filepath.Ext(tc.Path))+".json")
				f, err := os.Open(jsonPath)
				if err != nil {
					t.Logf("%s: no JSON next to %s", rm.Title, tc.Path)
					continue
				}
				got := 0
				_, err = ReadEvents(f, jsonPath, "", func(_ int, ev *Event) error {
					for _, m := range e.Match(ev) {
						if m.Rule.ID == rm.ID {
							got++
						}
					}
					return nil
				})
				f.Close()
				require.NoError(t, err)
				if tc.MatchCount == 0 {
					// info.yml without match_count: a positive test, at least one.
					assert.Positive(t, got, "%s (%s): regression events matched", rm.Title, jsonPath)
				} else {
					assert.Equal(t, tc.MatchCount, got, "%s (%s): regression events matched", rm.Title, jsonPath)
				}
				checked++
			}
		}
	}
	t.Logf("SigmaHQ regression cases checked: %d", checked)
	assert.NotZero(t, checked)
}
