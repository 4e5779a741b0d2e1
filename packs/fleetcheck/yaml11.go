package fleetcheck

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// fleetctl reads a GitOps file with github.com/ghodss/yaml: YAMLToJSON, then
// encoding/json into Fleet's structs (pkg/spec/gitops.go, YamlUnmarshal).
// ghodss/yaml decodes with gopkg.in/yaml.v2, which resolves plain scalars by
// YAML 1.1: `yes`, `off` and `y` are booleans, `5.10` is a number. A value
// that YAML 1.2 (this repository's yaml.v3) reads as a string can therefore
// reach Fleet as a bool or a number and fail its json.Unmarshal, or set a
// field to something else. value() re-resolves every plain scalar the way
// yaml.v2 does (its resolve.go), so the checker sees what Fleet sees.

// v2Bools and v2Nulls are yaml.v2's resolve table entries for plain scalars.
var (
	v2Bools = map[string]bool{
		"y": true, "Y": true, "yes": true, "Yes": true, "YES": true,
		"true": true, "True": true, "TRUE": true,
		"on": true, "On": true, "ON": true,
		"n": false, "N": false, "no": false, "No": false, "NO": false,
		"false": false, "False": false, "FALSE": false,
		"off": false, "Off": false, "OFF": false,
	}
	v2Nulls = map[string]bool{"": true, "~": true, "null": true, "Null": true, "NULL": true}
	v2Float = map[string]float64{
		".nan": math.NaN(), ".NaN": math.NaN(), ".NAN": math.NaN(),
		".inf": math.Inf(1), ".Inf": math.Inf(1), ".INF": math.Inf(1),
		"+.inf": math.Inf(1), "+.Inf": math.Inf(1), "+.INF": math.Inf(1),
		"-.inf": math.Inf(-1), "-.Inf": math.Inf(-1), "-.INF": math.Inf(-1),
	}
	// yaml.v2's yamlStyleFloat.
	v2FloatRE = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)
)

// resolvePlain returns what yaml.v2 makes of a plain (unquoted, untagged)
// scalar when it decodes into interface{}: bool, nil, int64, uint64,
// float64 or string. Timestamps stay strings there (yaml.v2 keeps the text
// for interface{} targets), so they are not resolved here.
func resolvePlain(s string) any {
	if b, ok := v2Bools[s]; ok {
		return b
	}
	if v2Nulls[s] {
		return nil
	}
	if f, ok := v2Float[s]; ok {
		return f
	}
	if s == "" || !strings.ContainsRune("+-.0123456789", rune(s[0])) {
		return s
	}
	plain := strings.ReplaceAll(s, "_", "")
	if i, err := strconv.ParseInt(plain, 0, 64); err == nil {
		return i
	}
	if u, err := strconv.ParseUint(plain, 0, 64); err == nil {
		return u
	}
	if v2FloatRE.MatchString(plain) {
		if f, err := strconv.ParseFloat(plain, 64); err == nil {
			return f
		}
	}
	for _, p := range []string{"0b", "-0b"} {
		if rest, ok := strings.CutPrefix(plain, p); ok {
			if i, err := strconv.ParseInt(rest, 2, 64); err == nil {
				if p == "-0b" {
					i = -i
				}
				return i
			}
		}
	}
	return s
}

// value converts a YAML node into the JSON-shaped value ghodss/yaml hands to
// encoding/json: map[string]any, []any, string, bool, int64, uint64, float64
// or nil.
func value(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.AliasNode:
		return value(n.Alias)
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return value(n.Content[0])
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := value(c)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, err := value(n.Content[i])
			if err != nil {
				return nil, err
			}
			v, err := value(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			// JSON keys are strings: ghodss/yaml formats other keys, so a
			// key `yes:` arrives as "true".
			out[fmt.Sprint(k)] = v
		}
		return out, nil
	case yaml.ScalarNode:
		quoted := n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0
		tagged := n.Style&yaml.TaggedStyle != 0
		switch {
		case tagged && n.Tag == "!!str", quoted:
			return n.Value, nil
		case tagged:
			var v any
			if err := n.Decode(&v); err != nil {
				return nil, err
			}
			return v, nil
		}
		return resolvePlain(n.Value), nil
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
}
