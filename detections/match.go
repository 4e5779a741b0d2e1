package detections

import (
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// Match is one rule that matched one event.
type Match struct {
	Rule *Rule
}

// state is the per-event scratch of one Match call: field values rendered and
// lower-cased once, shared by every rule.
type state struct {
	ev    *Event
	have  []bool
	raw   [][1]string
	lower [][1]string
	// Lists are lower-cased once per list content: events of one process
	// carry the same ProcessModules, so the last list seen is kept. Strings
	// are immutable, so equal data pointers and lengths mean equal lists.
	listRaw   [][]string
	listLower [][]string
}

var statePool = sync.Pool{New: func() any {
	n := len(fields)
	return &state{
		have: make([]bool, n), raw: make([][1]string, n), lower: make([][1]string, n),
		listRaw: make([][]string, n), listLower: make([][]string, n),
	}
}}

func (s *state) reset(ev *Event) {
	s.ev = ev
	clear(s.have)
}

// values returns the field's values, raw and lower-cased, without allocating
// for text fields already lower-case.
func (s *state) values(f fieldRef) (raw, lower []string) {
	if f.idx < 0 {
		v, ok := s.ev.Extra[f.extra]
		if !ok {
			return nil, nil
		}
		return []string{v}, []string{strings.ToLower(v)}
	}
	def := &fields[f.idx]
	if def.kind == kindList {
		l := def.list(s.ev)
		if len(l) == 0 {
			return nil, nil
		}
		if !sameStrings(s.listRaw[f.idx], l) {
			low, kept := s.listLower[f.idx][:0], s.listRaw[f.idx][:0]
			for _, x := range l {
				low = append(low, strings.ToLower(x))
				kept = append(kept, x)
			}
			s.listLower[f.idx], s.listRaw[f.idx] = low, kept
		}
		return l, s.listLower[f.idx]
	}
	if !s.have[f.idx] {
		var v string
		switch def.kind {
		case kindText:
			v = def.text(s.ev)
		case kindInt:
			v = strconv.FormatInt(def.num(s.ev), 10)
		case kindBool:
			v = strconv.FormatBool(def.flag(s.ev))
		}
		s.raw[f.idx][0], s.lower[f.idx][0] = v, strings.ToLower(v)
		s.have[f.idx] = true
	}
	return s.raw[f.idx][:], s.lower[f.idx][:]
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) || unsafe.StringData(a[i]) != unsafe.StringData(b[i]) {
			return false
		}
	}
	return true
}

// empty says whether Sigma's null matches the field: absent, empty text, or
// an empty list. Numbers and booleans always have a value.
func (s *state) empty(f fieldRef) bool {
	if f.idx < 0 {
		return s.ev.Extra[f.extra] == ""
	}
	switch fields[f.idx].kind {
	case kindText:
		return fields[f.idx].text(s.ev) == ""
	case kindList:
		return len(fields[f.idx].list(s.ev)) == 0
	}
	return false
}

func (m *fieldMatcher) match(s *state) bool {
	raw, lower := s.values(m.field)
	for i := range m.tests {
		t := &m.tests[i]
		ok := false
		switch t.op {
		case opNull:
			ok = s.empty(m.field)
		case opExists:
			ok = !s.empty(m.field) == t.exists
		case opFieldRef:
			refRaw, _ := s.values(t.ref)
			for _, v := range raw {
				for _, r := range refRaw {
					if v == r || !m.cased && strings.EqualFold(v, r) {
						ok = true
					}
				}
			}
		default:
			for j := range raw {
				if t.matches(raw[j], lower[j], m.cased) {
					ok = true
					break
				}
			}
		}
		if ok && !m.all {
			return true
		}
		if !ok && m.all {
			return false
		}
	}
	return m.all && len(m.tests) > 0
}

func (c *compiled) searchMatches(i int, s *state) bool {
	ms := c.searches[i].matchers
	if len(ms) == 0 {
		return true
	}
next:
	for _, and := range ms {
		for j := range and {
			if !and[j].match(s) {
				continue next
			}
		}
		return true
	}
	return false
}

func (c *compiled) eval(n *node, s *state) bool {
	switch n.op {
	case nodeSearch:
		return c.searchMatches(n.search, s)
	case nodeAnd:
		for _, k := range n.kids {
			if !c.eval(k, s) {
				return false
			}
		}
		return true
	case nodeOr:
		for _, k := range n.kids {
			if c.eval(k, s) {
				return true
			}
		}
		return false
	case nodeNot:
		return !c.eval(n.kids[0], s)
	case nodeAnyOf:
		for _, i := range n.set {
			if c.searchMatches(i, s) {
				return true
			}
		}
		return false
	case nodeAllOf:
		for _, i := range n.set {
			if !c.searchMatches(i, s) {
				return false
			}
		}
		return true
	}
	return false
}

// Match returns the rules that match the event, among those whose
// logsource product is the event's platform (or that name no product).
func (e *Engine) Match(ev *Event) []Match {
	return e.MatchAppend(nil, ev)
}

// MatchAppend is Match appending to dst, so a caller scanning many events can
// reuse one slice.
func (e *Engine) MatchAppend(dst []Match, ev *Event) []Match {
	rules := e.byPlatform[ev.Platform]
	if len(rules) == 0 {
		return dst
	}
	s := statePool.Get().(*state)
	s.reset(ev)
	for _, c := range rules {
		if c.eval(c.cond, s) {
			dst = append(dst, Match{Rule: c.rule})
		}
	}
	s.ev = nil
	statePool.Put(s)
	return dst
}
