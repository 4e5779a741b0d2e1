package detections

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	sigma "github.com/bradleyjkemp/sigma-go"
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
	// Product is the logsource product: windows, linux, macos, or "" for all.
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
	rule     *Rule
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
	tests []valueTest
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

func (m *fieldMatcher) buildIndex() {
	if m.all || len(m.tests) < indexMin {
		return
	}
	ix := &testIndex{}
	minLen := func(op testOp) int {
		k := 0
		for _, t := range m.tests {
			if t.op == op && (k == 0 || len(t.lit) < k) {
				k = len(t.lit)
			}
		}
		return min(k, 8)
	}
	ix.suffixK, ix.prefixK = minLen(opSuffix), minLen(opPrefix)
	for i, t := range m.tests {
		switch {
		case t.op == opEqual:
			if ix.equal == nil {
				ix.equal = map[string]bool{}
			}
			ix.equal[t.lit] = true
		case t.op == opSuffix && ix.suffixK > 0:
			if ix.suffix == nil {
				ix.suffix = map[string][]int{}
			}
			k := t.lit[len(t.lit)-ix.suffixK:]
			ix.suffix[k] = append(ix.suffix[k], i)
		case t.op == opPrefix && ix.prefixK > 0:
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

var supportedProducts = map[string]bool{"": true, PlatformWindows: true, PlatformLinux: true, PlatformMacOS: true}

// compileRule turns a parsed Sigma rule into an evaluator, or says why not.
func compileRule(r sigma.Rule, source string) (*compiled, error) {
	if r.Logsource.Category != "image_load" {
		return nil, skipf(0, "logsource category %q is not image_load", r.Logsource.Category)
	}
	if !supportedProducts[r.Logsource.Product] {
		return nil, skipf(0, "logsource product %q is not windows, linux or macos", r.Logsource.Product)
	}
	if len(r.Detection.Conditions) == 0 {
		return nil, skipf(0, "detection has no condition")
	}
	c := &compiled{rule: ruleMeta(r, source)}
	if c.rule.ID == "" {
		return nil, skipf(0, "rule has no id")
	}
	index := map[string]int{}
	names := make([]string, 0, len(r.Detection.Searches))
	for name := range r.Detection.Searches {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s, err := compileSearch(name, r.Detection.Searches[name])
		if err != nil {
			return nil, err
		}
		index[name] = len(c.searches)
		c.searches = append(c.searches, s)
	}
	var conds []*node
	for _, cond := range r.Detection.Conditions {
		line, _ := cond.Position()
		if cond.Aggregation != nil {
			return nil, skipf(line+1, "aggregation %q is not supported", mustYAML(cond))
		}
		n, err := compileCond(cond.Search, index, names)
		if err != nil {
			return nil, skipf(line+1, "condition: %v", err)
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
		if t.op == opRegexp || t.op == opCIDR {
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

func mustYAML(c sigma.Condition) string {
	v, _ := c.MarshalYAML()
	s, _ := v.(string)
	return s
}

func ruleMeta(r sigma.Rule, source string) *Rule {
	return &Rule{
		ID: r.ID, Title: r.Title, Level: r.Level, Tags: r.Tags,
		SiemRules: stringList(r.AdditionalFields[SiemRuleKey]),
		Product:   r.Logsource.Product, Source: source,
	}
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

func compileSearch(name string, s sigma.Search) (search, error) {
	out := search{name: name}
	if len(s.Keywords) > 0 {
		line, _ := s.Position()
		return out, skipf(line+1, "search %q uses keywords (full-text search), which module events do not carry", name)
	}
	for _, em := range s.EventMatchers {
		// A value list holding null next to other values is an OR inside
		// one AND: expand such matchers into one conjunction per branch.
		branches := [][]fieldMatcher{nil}
		for _, fm := range em {
			alts, err := compileFieldMatcher(fm)
			if err != nil {
				return out, err
			}
			next := make([][]fieldMatcher, 0, len(branches)*len(alts))
			for _, b := range branches {
				for _, a := range alts {
					nb := append(append([]fieldMatcher(nil), b...), a)
					next = append(next, nb)
				}
			}
			branches = next
		}
		out.matchers = append(out.matchers, branches...)
	}
	return out, nil
}

// compileFieldMatcher returns the alternatives (ORed) one line compiles to:
// one, or two when a plain value list mixes null with other values.
func compileFieldMatcher(fm sigma.FieldMatcher) ([]fieldMatcher, error) {
	line, _ := fm.Position()
	line++
	ref := fieldRef{idx: -1, extra: fm.Field}
	if i, ok := lookupField(fm.Field); ok {
		ref = fieldRef{idx: i}
	}
	m := fieldMatcher{field: ref}
	var trans []transform
	cmp, reFlags := "", ""
	for _, mod := range fm.Modifiers {
		switch {
		case mod == "all":
			m.all = true
		case mod == "cased":
			m.cased = true
		case transforms[mod] != nil:
			if cmp != "" {
				return nil, skipf(line, "field %q: modifier %q after comparator %q", fm.Field, mod, cmp)
			}
			trans = append(trans, transforms[mod])
		case cmp == "re" && (mod == "i" || mod == "m" || mod == "s"):
			reFlags += mod
		case mod == "contains" || mod == "startswith" || mod == "endswith" || mod == "re" ||
			mod == "cidr" || mod == "gt" || mod == "gte" || mod == "lt" || mod == "lte" ||
			mod == "exists" || mod == "fieldref":
			if cmp != "" {
				return nil, skipf(line, "field %q: two comparators %q and %q", fm.Field, cmp, mod)
			}
			cmp = mod
		default:
			return nil, skipf(line, "field %q: unsupported modifier %q", fm.Field, mod)
		}
	}
	if cmp == "fieldref" && len(trans) > 0 {
		return nil, skipf(line, "field %q: fieldref with value modifiers is not supported", fm.Field)
	}
	hasNull := false
	for _, v := range fm.Values {
		if v == nil {
			hasNull = true
			continue
		}
		s, err := scalarString(v)
		if err != nil {
			return nil, skipf(line, "field %q: %v", fm.Field, err)
		}
		vals := []string{s}
		for _, t := range trans {
			var next []string
			for _, x := range vals {
				next = append(next, t(x)...)
			}
			vals = next
		}
		for _, x := range vals {
			t, err := compileTest(cmp, x, m.cased, reFlags)
			if err != nil {
				return nil, skipf(line, "field %q: %v", fm.Field, err)
			}
			m.tests = append(m.tests, t)
		}
	}
	if len(fm.Values) == 0 {
		return nil, skipf(line, "field %q has no value", fm.Field)
	}
	if !hasNull {
		m.buildIndex()
		return []fieldMatcher{m}, nil
	}
	if cmp != "" || len(trans) > 0 {
		return nil, skipf(line, "field %q: null with modifiers is not supported", fm.Field)
	}
	null := fieldMatcher{field: ref, tests: []valueTest{{op: opNull}}}
	if m.all {
		// null AND every other value: keep them in one matcher.
		m.tests = append(m.tests, null.tests...)
		return []fieldMatcher{m}, nil
	}
	if len(m.tests) == 0 {
		return []fieldMatcher{null}, nil
	}
	m.buildIndex()
	return []fieldMatcher{null, m}, nil
}

var errNoSearch = errors.New("no search")

func compileCond(e sigma.SearchExpr, index map[string]int, names []string) (*node, error) {
	switch x := e.(type) {
	case sigma.SearchIdentifier:
		i, ok := index[x.Name]
		if !ok {
			return nil, fmt.Errorf("%w named %q", errNoSearch, x.Name)
		}
		return &node{op: nodeSearch, search: i}, nil
	case sigma.And, sigma.Or:
		var kids []sigma.SearchExpr
		op := nodeAnd
		if a, ok := x.(sigma.And); ok {
			kids = a
		} else {
			kids, op = x.(sigma.Or), nodeOr
		}
		n := &node{op: op}
		for _, k := range kids {
			c, err := compileCond(k, index, names)
			if err != nil {
				return nil, err
			}
			n.kids = append(n.kids, c)
		}
		return n, nil
	case sigma.Not:
		c, err := compileCond(x.Expr, index, names)
		if err != nil {
			return nil, err
		}
		return &node{op: nodeNot, kids: []*node{c}}, nil
	case sigma.OneOfIdentifier:
		return compileCond(x.Ident, index, names)
	case sigma.AllOfIdentifier:
		return compileCond(x.Ident, index, names)
	case sigma.OneOfThem, sigma.AllOfThem, sigma.OneOfPattern, sigma.AllOfPattern:
		pattern, op := "*", nodeAnyOf
		switch y := x.(type) {
		case sigma.AllOfThem:
			op = nodeAllOf
		case sigma.OneOfPattern:
			pattern = y.Pattern
		case sigma.AllOfPattern:
			pattern, op = y.Pattern, nodeAllOf
		}
		n := &node{op: op}
		for _, name := range names {
			// "them" leaves out searches whose names start with "_".
			if pattern == "*" && strings.HasPrefix(name, "_") {
				continue
			}
			if ok, _ := path.Match(pattern, name); ok {
				n.set = append(n.set, index[name])
			}
		}
		if len(n.set) == 0 {
			return nil, fmt.Errorf("%w matches %q", errNoSearch, pattern)
		}
		return n, nil
	}
	return nil, fmt.Errorf("unsupported condition element %T", e)
}
