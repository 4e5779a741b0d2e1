package detections

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// ruleDoc is a Sigma rule read from its YAML nodes, every detection item
// with the line it is on, so a rule that cannot be used is reported at the
// line that says why.
type ruleDoc struct {
	meta     *Rule
	category string
	searches []searchDoc
	conds    []condDoc
}

type searchDoc struct {
	name     string
	line     int
	matchers [][]fieldDoc // OR of ANDs
}

type fieldDoc struct {
	field  string
	mods   []string
	line   int
	values []valueDoc
}

type valueDoc struct {
	v    any // nil, string, int, int64, uint64, float64 or bool
	line int
}

type condDoc struct {
	text string
	line int
}

// resolve follows a YAML alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 16; i++ {
		n = n.Alias
	}
	return n
}

// parseDoc reads a rule from the mapping node of its YAML document.
func parseDoc(top *yaml.Node, source string) (*ruleDoc, error) {
	var meta struct {
		Title     string   `yaml:"title"`
		ID        string   `yaml:"id"`
		Level     string   `yaml:"level"`
		Tags      []string `yaml:"tags"`
		Logsource struct {
			Category string `yaml:"category"`
			Product  string `yaml:"product"`
		} `yaml:"logsource"`
	}
	if err := top.Decode(&meta); err != nil {
		return nil, yamlErr(err)
	}
	doc := &ruleDoc{
		meta: &Rule{ID: meta.ID, Title: meta.Title, Level: meta.Level, Tags: meta.Tags,
			Product: meta.Logsource.Product, Source: source},
		category: meta.Logsource.Category,
	}
	if n := valueOf(top, SiemRuleKey); n != nil {
		var v any
		if err := n.Decode(&v); err == nil {
			doc.meta.SiemRules = stringList(v)
		}
	}
	det := resolve(valueOf(top, "detection"))
	if det == nil || det.Kind != yaml.MappingNode {
		line := top.Line
		if det != nil {
			line = det.Line
		}
		return doc, skipf(line, "detection must be a map of searches and a condition")
	}
	for i := 0; i+1 < len(det.Content); i += 2 {
		key, val := det.Content[i], resolve(det.Content[i+1])
		switch key.Value {
		case "condition":
			conds, err := parseConditions(key, val)
			if err != nil {
				return doc, err
			}
			doc.conds = conds
		case "timeframe":
			return doc, skipf(key.Line, "timeframe (a temporal condition) is not supported")
		default:
			s, err := parseSearch(key, val)
			if err != nil {
				return doc, err
			}
			doc.searches = append(doc.searches, s)
		}
	}
	return doc, nil
}

func parseConditions(key, val *yaml.Node) ([]condDoc, error) {
	switch val.Kind {
	case yaml.ScalarNode:
		return []condDoc{{text: val.Value, line: val.Line}}, nil
	case yaml.SequenceNode:
		var out []condDoc
		for _, c := range val.Content {
			if c = resolve(c); c.Kind != yaml.ScalarNode {
				return nil, skipf(c.Line, "condition: a list of conditions must hold text")
			}
			out = append(out, condDoc{text: c.Value, line: c.Line})
		}
		return out, nil
	}
	return nil, skipf(key.Line, "condition must be text or a list of texts")
}

func parseSearch(key, val *yaml.Node) (searchDoc, error) {
	s := searchDoc{name: key.Value, line: key.Line}
	keywords := skipf(key.Line, "search %q uses keywords (full-text search), which module events do not carry", key.Value)
	switch val.Kind {
	case yaml.MappingNode:
		m, err := parseFieldMap(val)
		if err != nil {
			return s, err
		}
		s.matchers = [][]fieldDoc{m}
	case yaml.SequenceNode:
		if len(val.Content) == 0 {
			return s, skipf(key.Line, "search %q is empty", key.Value)
		}
		for _, item := range val.Content {
			item = resolve(item)
			switch item.Kind {
			case yaml.MappingNode:
				m, err := parseFieldMap(item)
				if err != nil {
					return s, err
				}
				s.matchers = append(s.matchers, m)
			case yaml.ScalarNode:
				return s, keywords
			default:
				return s, skipf(item.Line, "search %q: a list must hold maps of fields or keywords", key.Value)
			}
		}
	case yaml.ScalarNode:
		if val.Tag == "!!null" {
			return s, skipf(key.Line, "search %q is empty", key.Value)
		}
		return s, keywords
	default:
		return s, skipf(key.Line, "search %q must be a map or a list", key.Value)
	}
	return s, nil
}

func parseFieldMap(m *yaml.Node) ([]fieldDoc, error) {
	var out []fieldDoc
	for i := 0; i+1 < len(m.Content); i += 2 {
		key, val := m.Content[i], resolve(m.Content[i+1])
		parts := strings.Split(key.Value, "|")
		fd := fieldDoc{field: parts[0], mods: parts[1:], line: key.Line}
		if fd.field == "" {
			return nil, skipf(key.Line, "%q is a keyword search (no field), which module events do not carry", key.Value)
		}
		switch val.Kind {
		case yaml.ScalarNode:
			fd.values = []valueDoc{scalarValue(val)}
		case yaml.SequenceNode:
			for _, v := range val.Content {
				if v = resolve(v); v.Kind != yaml.ScalarNode {
					return nil, skipf(v.Line, "field %q: a value list may hold only single values", fd.field)
				}
				fd.values = append(fd.values, scalarValue(v))
			}
			if len(fd.values) == 0 {
				return nil, skipf(key.Line, "field %q has no value", fd.field)
			}
		default:
			return nil, skipf(key.Line, "field %q: a map is not a value", fd.field)
		}
		out = append(out, fd)
	}
	return out, nil
}

// scalarValue reads a YAML scalar as Sigma types it: null, a boolean, a
// number or text. Anything else (a date, say) is its text as written.
func scalarValue(n *yaml.Node) valueDoc {
	vd := valueDoc{line: n.Line, v: n.Value}
	switch n.Tag {
	case "!!null":
		vd.v = nil
	case "!!bool", "!!int", "!!float":
		var v any
		if err := n.Decode(&v); err == nil {
			vd.v = v
		}
	}
	return vd
}

// valueText renders a value for the comparators that read text.
func (v valueDoc) text() string {
	s, err := scalarString(v.v)
	if err != nil {
		return fmt.Sprint(v.v)
	}
	return s
}
