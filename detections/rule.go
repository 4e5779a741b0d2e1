package detections

import (
	"fmt"
	"sort"
	"strings"

	"github.com/modhunt/modhunt/internal/platform"
)

// Rule is what a match reports of a loaded Sigma rule.
type Rule struct {
	ID    string
	Title string
	Level string
	Tags  []string
	// SiemRules are the MaxPatrol SIEM (PT-CR-...) rules this one mirrors,
	// from the rule's custom top-level key `siem_rule` (a string or a list).
	SiemRules []string
	// Product is the logsource product as the rule writes it (Sigma's
	// spelling: windows, linux, macos), or "" for all.
	Product string
	// Source is where the rule came from: "builtin:<path>" or a file path.
	Source string
}

// SiemRule returns SiemRules joined with commas ("" when it mirrors none).
func (r *Rule) SiemRule() string { return strings.Join(r.SiemRules, ",") }

// SiemRuleKey is the custom top-level key naming mirrored SIEM rules.
const SiemRuleKey = "siem_rule"

// compiled is a rule ready to evaluate.
type compiled struct {
	rule *Rule
	// platform is the OS the rule's logsource product selects, "" for all.
	platform string
	searches []search
	cond     *node
}

// search is one named detection item: any of its matchers (an OR).
type search struct {
	name     string
	matchers [][]fieldMatcher // OR of ANDs; none means "always true"
}

// fieldMatcher is one "Field|modifiers: values" line.
type fieldMatcher struct {
	field fieldRef
	all   bool
	cased bool
	// neg is the neq modifier: the field is there and none of the values
	// (with |all: not every value) matches it.
	neg   bool
	tests []valueTest
	// groupEnd splits tests by the value they came from: a value's
	// variants (windash, base64offset, ...) are alternatives, and |all
	// needs one of each value's variants, tests[groupEnd[g-1]:groupEnd[g]].
	groupEnd []int
	// Long value lists (a rule naming 20 host images) are looked up by
	// their last or first few bytes instead of compared one by one.
	idx *testIndex
}

// testIndex buckets the literal equal/suffix/prefix tests of an "any of"
// matcher; rest holds the tests it does not cover.
type testIndex struct {
	equal   map[string]bool
	suffixK int
	suffix  map[string][]int
	prefixK int
	prefix  map[string][]int
	rest    []int
}

// indexMin is the list length from which a matcher gets an index.
const indexMin = 4

// maxIndexKey bounds the bytes an index key takes from a literal.
const maxIndexKey = 8

func (m *fieldMatcher) buildIndex() {
	if m.all || len(m.tests) < indexMin {
		return
	}
	ix := &testIndex{}
	// The key length is the shortest non-empty literal of its kind: an
	// empty suffix or prefix (it matches any value) has no key and is
	// tested as it is, with the tests the index does not cover.
	keyLen := func(op testOp) int {
		k := maxIndexKey
		for _, t := range m.tests {
			if t.op == op && t.lit != "" {
				k = min(k, len(t.lit))
			}
		}
		return k
	}
	ix.suffixK, ix.prefixK = keyLen(opSuffix), keyLen(opPrefix)
	for i, t := range m.tests {
		switch {
		case t.op == opEqual:
			if ix.equal == nil {
				ix.equal = map[string]bool{}
			}
			ix.equal[t.lit] = true
		case t.op == opSuffix && t.lit != "":
			if ix.suffix == nil {
				ix.suffix = map[string][]int{}
			}
			k := t.lit[len(t.lit)-ix.suffixK:]
			ix.suffix[k] = append(ix.suffix[k], i)
		case t.op == opPrefix && t.lit != "":
			if ix.prefix == nil {
				ix.prefix = map[string][]int{}
			}
			k := t.lit[:ix.prefixK]
			ix.prefix[k] = append(ix.prefix[k], i)
		default:
			ix.rest = append(ix.rest, i)
		}
	}
	m.idx = ix
}

type nodeOp uint8

const (
	nodeSearch nodeOp = iota
	nodeAnd
	nodeOr
	nodeNot
	nodeAnyOf
	nodeAllOf
)

// node is the compiled condition tree.
type node struct {
	op     nodeOp
	search int     // nodeSearch
	kids   []*node // and, or, not
	set    []int   // anyOf, allOf: search indexes
}

// skipError marks a rule that parsed but cannot be evaluated here.
type skipError struct {
	line   int
	reason string
}

func (e *skipError) Error() string { return e.reason }

func skipf(line int, format string, args ...any) error {
	return &skipError{line: line, reason: fmt.Sprintf(format, args...)}
}

// recoverRule, deferred by the rule reader, turns a panic into the rule's
// skip reason: a bug in reading one rule must not take down the loader,
// the table or the agent. The causes are fixed where they are found; this
// is the belt.
func recoverRule(c **compiled, err *error) {
	if p := recover(); p != nil {
		*c, *err = nil, skipf(0, "internal error reading the rule (please report it): %v", p)
	}
}

// compileRule turns a parsed Sigma rule into an evaluator, or says why not.
func compileRule(doc *ruleDoc) (*compiled, error) {
	if doc.category != "image_load" {
		return nil, skipf(0, "logsource category %q is not image_load", doc.category)
	}
	plat := ""
	if doc.meta.Product != "" {
		var ok bool
		if plat, ok = platform.FromSigmaProduct(doc.meta.Product); !ok {
			return nil, skipf(0, "logsource product %q is not windows, linux or macos", doc.meta.Product)
		}
	}
	if len(doc.conds) == 0 {
		return nil, skipf(0, "detection has no condition")
	}
	c := &compiled{rule: doc.meta, platform: plat}
	if c.rule.ID == "" {
		return nil, skipf(0, "rule has no id")
	}
	index := map[string]int{}
	for _, sd := range doc.searches {
		if _, dup := index[sd.name]; dup {
			return nil, skipf(sd.line, "search %q is defined twice", sd.name)
		}
		s, err := compileSearch(sd)
		if err != nil {
			return nil, err
		}
		index[sd.name] = len(c.searches)
		c.searches = append(c.searches, s)
	}
	var conds []*node
	for _, cd := range doc.conds {
		n, err := compileCondition(cd.text, index)
		if err != nil {
			if strings.HasPrefix(err.Error(), "aggregation") {
				return nil, skipf(cd.line, "%v", err)
			}
			return nil, skipf(cd.line, "condition: %v", err)
		}
		conds = append(conds, n)
	}
	c.cond = conds[0]
	if len(conds) > 1 {
		c.cond = &node{op: nodeOr, kids: conds}
	}
	c.order(c.cond)
	return c, nil
}

// Evaluation order: "and" and "or" have no side effects, so cheap tests run
// first and the costly ones (a process's whole module list, regular
// expressions) only when the cheap ones did not decide.

func (m *fieldMatcher) cost() int {
	per := 1
	for _, t := range m.tests {
		if t.op == opRegexp || t.op == opCIDR || t.op == opGlob {
			per = 5
		}
	}
	n := len(m.tests) * per
	if m.idx != nil {
		n = 2 + len(m.idx.rest)*per
	}
	if m.field.idx >= 0 && fields[m.field.idx].kind == kindList {
		n *= 20
	}
	return n
}

func (s *search) cost() int {
	total := 0
	for _, and := range s.matchers {
		for _, m := range and {
			total += m.cost()
		}
	}
	return total
}

func (c *compiled) nodeCost(n *node) int {
	switch n.op {
	case nodeSearch:
		return c.searches[n.search].cost()
	case nodeAnyOf, nodeAllOf:
		t := 0
		for _, i := range n.set {
			t += c.searches[i].cost()
		}
		return t
	}
	t := 0
	for _, k := range n.kids {
		t += c.nodeCost(k)
	}
	return t
}

func (c *compiled) order(n *node) {
	for i := range c.searches {
		for _, and := range c.searches[i].matchers {
			sort.SliceStable(and, func(a, b int) bool { return and[a].cost() < and[b].cost() })
		}
	}
	var walk func(n *node)
	walk = func(n *node) {
		for _, k := range n.kids {
			walk(k)
		}
		sort.SliceStable(n.kids, func(a, b int) bool { return c.nodeCost(n.kids[a]) < c.nodeCost(n.kids[b]) })
		sort.SliceStable(n.set, func(a, b int) bool { return c.searches[n.set[a]].cost() < c.searches[n.set[b]].cost() })
	}
	walk(n)
}

func stringList(v any) []string {
	switch x := v.(type) {
	case string:
		if x == "" {
			return nil
		}
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, err := scalarString(e); err == nil && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func compileSearch(sd searchDoc) (search, error) {
	out := search{name: sd.name}
	for _, fds := range sd.matchers {
		and := make([]fieldMatcher, 0, len(fds))
		for _, fd := range fds {
			m, err := compileFieldMatcher(fd)
			if err != nil {
				return out, err
			}
			and = append(and, m)
		}
		out.matchers = append(out.matchers, and)
	}
	return out, nil
}

// Modifiers by kind. A transform maps each value to its variants; a
// comparator says how a value is compared; the rest change how the values
// combine (all, neq) or compare (cased, the re flags).
var (
	textComparators  = map[string]bool{"contains": true, "startswith": true, "endswith": true}
	otherComparators = map[string]bool{"re": true, "cidr": true, "gt": true, "gte": true, "lt": true, "lte": true,
		"exists": true, "fieldref": true}
	reFlags = map[string]string{"i": "i", "ignorecase": "i", "m": "m", "multiline": "m", "s": "s", "dotall": "s"}
)

// compileFieldMatcher compiles one "Field|modifiers: values" line.
func compileFieldMatcher(fd fieldDoc) (fieldMatcher, error) {
	line := fd.line
	ref := fieldRef{idx: -1, extra: fd.field}
	if i, ok := lookupField(fd.field); ok {
		ref = fieldRef{idx: i}
	}
	m := fieldMatcher{field: ref}
	// steps are the value modifiers in the order written ("the value
	// modifiers are applied in the given order to the value"): transforms,
	// and contains/startswith/endswith, which add wildcards. SigmaHQ writes
	// both `contains|windash` and `windash|contains`.
	var steps, trans []string
	cmp, flags := "", ""
	for _, mod := range fd.mods {
		switch {
		case mod == "all":
			m.all = true
		case mod == "cased":
			m.cased = true
		case mod == "neq":
			m.neg = true
		case transforms[mod] != nil:
			if otherComparators[cmp] {
				return m, skipf(line, "field %q: modifier %q after comparator %q", fd.field, mod, cmp)
			}
			steps = append(steps, mod)
			trans = append(trans, mod)
		case cmp == "re" && reFlags[mod] != "":
			if !strings.Contains(flags, reFlags[mod]) {
				flags += reFlags[mod]
			}
		case textComparators[mod] || otherComparators[mod]:
			if cmp != "" {
				return m, skipf(line, "field %q: two comparators %q and %q", fd.field, cmp, mod)
			}
			cmp = mod
			if textComparators[mod] {
				steps = append(steps, mod)
			}
		default:
			return m, skipf(line, "field %q: unsupported modifier %q", fd.field, mod)
		}
	}
	if otherComparators[cmp] && len(trans) > 0 {
		return m, skipf(line, "field %q: %s does not take value modifiers (%s)", fd.field, cmp, strings.Join(trans, "|"))
	}
	if cmp == "exists" && (m.neg || len(fd.values) != 1) {
		return m, skipf(line, "field %q: exists takes one true or false, without neq", fd.field)
	}
	for _, v := range fd.values {
		if v.v == nil {
			if cmp != "" || len(trans) > 0 {
				return m, skipf(v.line, "field %q: null with the %s modifier is not defined", fd.field, strings.Join(append(trans, cmp), "|"))
			}
			m.tests = append(m.tests, valueTest{op: opNull})
			m.groupEnd = append(m.groupEnd, len(m.tests))
			continue
		}
		if otherComparators[cmp] {
			t, err := compileTest(cmp, v.text(), flags)
			if err != nil {
				return m, skipf(v.line, "field %q: %v", fd.field, err)
			}
			m.tests = append(m.tests, t)
			m.groupEnd = append(m.groupEnd, len(m.tests))
			continue
		}
		vars := []sigmaValue{parseSigmaValue(v.text())}
		for _, name := range steps {
			var next []sigmaValue
			for _, x := range vars {
				if textComparators[name] {
					next = append(next, x.withComparator(name))
					continue
				}
				out, err := transforms[name](x)
				if err != nil {
					return m, skipf(v.line, "field %q: %s: %v", fd.field, name, err)
				}
				next = append(next, out...)
			}
			vars = next
		}
		for _, x := range vars {
			m.tests = append(m.tests, compileText(x, m.cased))
		}
		m.groupEnd = append(m.groupEnd, len(m.tests))
	}
	if len(m.tests) == 0 {
		return m, skipf(line, "field %q has no value", fd.field)
	}
	m.buildIndex()
	return m, nil
}
