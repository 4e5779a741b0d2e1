package detections

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// The condition grammar (Sigma rules specification, "Condition"):
//
//	expr    = and { "or" and }
//	and     = not { "and" not }
//	not     = "not" not | primary
//	primary = "(" expr ")" | ("1" | "any" | "all") "of" (pattern | "them") | identifier
//
// not binds tighter than and, and than or, as in pySigma. Keywords are read
// in any case. A pattern is an identifier with "*" anywhere, matching any
// run of characters ("Matching is done with * wildcards (any number of
// characters) at arbitrary positions in the pattern"). "them" and a pattern
// leave out searches whose names start with "_", unless the pattern itself
// does (pySigma's rule).

var errNoSearch = errors.New("no search")

type condParser struct {
	toks  []condTok
	pos   int
	index map[string]int
	names []string // sorted
}

type condTok struct {
	text string
	col  int // 1-based
}

func tokenizeCondition(s string) ([]condTok, error) {
	var toks []condTok
	for i := 0; i < len(s); {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			i++
		case '(', ')':
			toks = append(toks, condTok{text: s[i : i+1], col: i + 1})
			i++
		case '|':
			return nil, fmt.Errorf("aggregation %q is not supported", strings.TrimSpace(s[i:]))
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r()|", rune(s[j])) {
				j++
			}
			toks = append(toks, condTok{text: s[i:j], col: i + 1})
			i = j
		}
	}
	return toks, nil
}

// compileCondition parses one condition and resolves its search names.
func compileCondition(text string, index map[string]int) (*node, error) {
	toks, err := tokenizeCondition(text)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, errors.New("empty condition")
	}
	names := make([]string, 0, len(index))
	for n := range index {
		names = append(names, n)
	}
	sort.Strings(names)
	p := &condParser{toks: toks, index: index, names: names}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		t := p.toks[p.pos]
		return nil, fmt.Errorf("unexpected %q at column %d", t.text, t.col)
	}
	return n, nil
}

func (p *condParser) peek() (condTok, bool) {
	if p.pos < len(p.toks) {
		return p.toks[p.pos], true
	}
	return condTok{}, false
}

func (p *condParser) peekWord(w string) bool {
	t, ok := p.peek()
	return ok && strings.EqualFold(t.text, w)
}

func (p *condParser) or() (*node, error) {
	return p.binary("or", nodeOr, p.and)
}

func (p *condParser) and() (*node, error) {
	return p.binary("and", nodeAnd, p.not)
}

func (p *condParser) binary(word string, op nodeOp, next func() (*node, error)) (*node, error) {
	first, err := next()
	if err != nil {
		return nil, err
	}
	if !p.peekWord(word) {
		return first, nil
	}
	n := &node{op: op, kids: []*node{first}}
	for p.peekWord(word) {
		p.pos++
		k, err := next()
		if err != nil {
			return nil, err
		}
		n.kids = append(n.kids, k)
	}
	return n, nil
}

func (p *condParser) not() (*node, error) {
	if p.peekWord("not") {
		p.pos++
		k, err := p.not()
		if err != nil {
			return nil, err
		}
		return &node{op: nodeNot, kids: []*node{k}}, nil
	}
	return p.primary()
}

var condKeywords = map[string]bool{"and": true, "or": true, "not": true, "of": true}

func (p *condParser) primary() (*node, error) {
	t, ok := p.peek()
	if !ok {
		return nil, errors.New("the condition ends where a search name was expected")
	}
	p.pos++
	switch low := strings.ToLower(t.text); {
	case t.text == "(":
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if c, ok := p.peek(); !ok || c.text != ")" {
			return nil, fmt.Errorf("missing \")\" for the \"(\" at column %d", t.col)
		}
		p.pos++
		return n, nil
	case t.text == ")":
		return nil, fmt.Errorf("unexpected \")\" at column %d", t.col)
	case (low == "1" || low == "any" || low == "all") && p.peekWord("of"):
		p.pos++
		target, ok := p.peek()
		if !ok || target.text == "(" || target.text == ")" {
			return nil, fmt.Errorf("%q at column %d needs a search name, a pattern or \"them\"", t.text+" of", t.col)
		}
		p.pos++
		return p.selector(low == "all", target.text)
	case strings.Contains(t.text, "*"):
		return nil, fmt.Errorf("pattern %q at column %d must follow \"1 of\" or \"all of\"", t.text, t.col)
	case condKeywords[low]:
		return nil, fmt.Errorf("unexpected %q at column %d", t.text, t.col)
	}
	i, ok := p.index[t.text]
	if !ok {
		return nil, fmt.Errorf("%w named %q", errNoSearch, t.text)
	}
	return &node{op: nodeSearch, search: i}, nil
}

// selector resolves "1 of X" / "all of X".
func (p *condParser) selector(all bool, pattern string) (*node, error) {
	n := &node{op: nodeAnyOf}
	if all {
		n.op = nodeAllOf
	}
	them := strings.EqualFold(pattern, "them")
	for _, name := range p.names {
		if strings.HasPrefix(name, "_") && (them || !strings.HasPrefix(pattern, "_")) {
			continue
		}
		if them || globStar(pattern, name) {
			n.set = append(n.set, p.index[name])
		}
	}
	if len(n.set) == 0 {
		if !them && !strings.Contains(pattern, "*") {
			return nil, fmt.Errorf("%w named %q", errNoSearch, pattern)
		}
		return nil, fmt.Errorf("%w matches %q", errNoSearch, pattern)
	}
	return n, nil
}

// globStar matches name against a pattern whose only wildcard is "*".
func globStar(pattern, name string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == name
	}
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	name = name[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, part := range parts[1 : len(parts)-1] {
		i := strings.Index(name, part)
		if i < 0 {
			return false
		}
		name = name[i+len(part):]
	}
	return len(name) >= len(last) && strings.HasSuffix(name, last)
}
