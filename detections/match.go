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
	ev      *Event
	have    []bool // raw, lower and missing hold the field's values
	missing []bool // the field is absent or null
	raw     [][1]string
	lower   [][1]string
	// Lists are lower-cased once per list content: events of one process
	// carry the same ProcessModules, so the last list seen is kept. Strings
	// are immutable, so equal data pointers and lengths mean equal lists.
	listRaw   [][]string
	listLower [][]string
	listSet   []map[string]bool // lower-cased members, built on first lookup
	arena     []byte
}

var statePool = sync.Pool{New: func() any {
	n := len(fields)
	return &state{
		have: make([]bool, n), missing: make([]bool, n), raw: make([][1]string, n), lower: make([][1]string, n),
		listRaw: make([][]string, n), listLower: make([][]string, n), listSet: make([]map[string]bool, n),
	}
}}

func (s *state) reset(ev *Event) {
	s.ev = ev
	clear(s.have)
	s.arena = s.arena[:0]
}

// toLower lower-cases an ASCII string into the per-event arena, so the
// common case costs no allocation. The result lives until the next reset:
// only the per-event fields use it, never the list caches.
func (s *state) toLower(v string) string {
	upper := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 0x80 {
			return lowerText(v)
		}
		upper = upper || 'A' <= c && c <= 'Z'
	}
	if !upper {
		return v
	}
	if cap(s.arena)-len(s.arena) < len(v) {
		// A new block; strings already handed out keep the old one alive.
		s.arena = make([]byte, 0, max(4096, 2*len(v)))
	}
	start := len(s.arena)
	for i := 0; i < len(v); i++ {
		c := v[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		s.arena = append(s.arena, c)
	}
	b := s.arena[start:]
	return unsafe.String(&b[0], len(b))
}

// values returns the field's values, raw and lower-cased, without allocating
// for text fields already lower-case. An absent or null field has none.
func (s *state) values(f fieldRef) (raw, lower []string) {
	if f.idx < 0 {
		v, ok := s.ev.Extra[f.extra]
		if !ok {
			return nil, nil
		}
		return []string{v}, []string{lowerText(v)}
	}
	def := &fields[f.idx]
	if def.kind == kindList {
		l := *def.list(s.ev)
		if len(l) == 0 {
			s.listRaw[f.idx], s.listLower[f.idx], s.listSet[f.idx] = s.listRaw[f.idx][:0], s.listLower[f.idx][:0], nil
			return nil, nil
		}
		if !sameStrings(s.listRaw[f.idx], l) {
			low, kept := s.listLower[f.idx][:0], s.listRaw[f.idx][:0]
			for _, x := range l {
				low = append(low, lowerText(x))
				kept = append(kept, x)
			}
			s.listLower[f.idx], s.listRaw[f.idx] = low, kept
			s.listSet[f.idx] = nil
		}
		return l, s.listLower[f.idx]
	}
	if !s.have[f.idx] {
		s.have[f.idx] = true
		s.missing[f.idx] = s.ev.presence(f.idx) != fieldPresent
		if s.missing[f.idx] {
			return nil, nil
		}
		var v string
		switch def.kind {
		case kindText:
			v = def.text(s.ev)
		case kindInt:
			v = strconv.FormatInt(def.num(s.ev), 10)
		case kindBool:
			v = strconv.FormatBool(def.flag(s.ev))
		}
		s.raw[f.idx][0], s.lower[f.idx][0] = v, s.toLower(v)
	}
	if s.missing[f.idx] {
		return nil, nil
	}
	return s.raw[f.idx][:], s.lower[f.idx][:]
}

// listHas says whether a list field holds lit (lower-cased), with one map
// lookup: a process's module list is shared by all its events.
func (s *state) listHas(idx int, lit string) bool {
	_, lower := s.values(fieldRef{idx: idx})
	if len(lower) == 0 {
		return false
	}
	set := s.listSet[idx]
	if set == nil {
		set = make(map[string]bool, len(lower))
		for _, v := range lower {
			set[v] = true
		}
		s.listSet[idx] = set
	}
	return set[lit]
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

// presence says whether the event carries the field, and with what.
func (s *state) presence(f fieldRef) presence {
	if f.idx < 0 {
		return s.ev.extraPresence(f.extra)
	}
	return s.ev.presence(f.idx)
}

// matchIndexed is match for an "any of" matcher with an index.
func (m *fieldMatcher) matchIndexed(s *state) bool {
	ix := m.idx
	raw, lower := s.values(m.field)
	for j := range raw {
		v := lower[j]
		if m.cased {
			v = raw[j]
		}
		if ix.equal[v] {
			return true
		}
		if ix.suffix != nil && len(v) >= ix.suffixK {
			for _, i := range ix.suffix[v[len(v)-ix.suffixK:]] {
				if strings.HasSuffix(v, m.tests[i].lit) {
					return true
				}
			}
		}
		if ix.prefix != nil && len(v) >= ix.prefixK {
			for _, i := range ix.prefix[v[:ix.prefixK]] {
				if strings.HasPrefix(v, m.tests[i].lit) {
					return true
				}
			}
		}
		for _, i := range ix.rest {
			t := &m.tests[i]
			if t.op < opNull && t.matches(raw[j], lower[j], m.cased) {
				return true
			}
		}
	}
	// Tests that look at the field as a whole, not at a value.
	for _, i := range ix.rest {
		if m.tests[i].op >= opNull && m.matchOne(&m.tests[i], s, raw, lower) {
			return true
		}
	}
	return false
}

func (m *fieldMatcher) matchOne(t *valueTest, s *state, raw, lower []string) bool {
	switch t.op {
	case opNull:
		return s.presence(m.field) != fieldPresent
	case opExists:
		return (s.presence(m.field) != fieldAbsent) == t.exists
	case opFieldRef:
		refRaw, _ := s.values(t.ref)
		for _, v := range raw {
			for _, r := range refRaw {
				if v == r || !m.cased && strings.EqualFold(v, r) {
					return true
				}
			}
		}
		return false
	case opEqual:
		if !m.cased && m.field.idx >= 0 && fields[m.field.idx].kind == kindList {
			return s.listHas(m.field.idx, t.lit)
		}
	}
	for j := range raw {
		if t.matches(raw[j], lower[j], m.cased) {
			return true
		}
	}
	return false
}

func (m *fieldMatcher) match(s *state) bool {
	if !m.neg {
		return m.matchValues(s)
	}
	// neq: "The field is different from the specified values." A field
	// the event does not carry, or carries as null, is different from
	// nothing, as a comparison with SQL's NULL is never true; so is one
	// compared with a field (fieldref) that is not there.
	if s.presence(m.field) != fieldPresent {
		return false
	}
	for i := range m.tests {
		if t := &m.tests[i]; t.op == opFieldRef && s.presence(t.ref) != fieldPresent {
			return false
		}
	}
	return !m.matchValues(s)
}

// matchValues is the matcher without neq: any value matches, or with |all
// every value does, where a value matches when any of its variants does.
func (m *fieldMatcher) matchValues(s *state) bool {
	if m.idx != nil {
		return m.matchIndexed(s)
	}
	raw, lower := s.values(m.field)
	if !m.all {
		for i := range m.tests {
			if m.matchOne(&m.tests[i], s, raw, lower) {
				return true
			}
		}
		return false
	}
	start := 0
	for _, end := range m.groupEnd {
		hit := false
		for i := start; i < end && !hit; i++ {
			hit = m.matchOne(&m.tests[i], s, raw, lower)
		}
		if !hit {
			return false
		}
		start = end
	}
	return len(m.groupEnd) > 0
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
