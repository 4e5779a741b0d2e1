package detections

// ReadsAny reports whether a rule that events of platform reach reads one
// of the named fields, so an event builder can skip building events of a
// kind no loaded rule looks at (memory regions cost a second read of each
// process's memory map). Names are known field names; a field only
// compared with fieldref counts too.
func (e *Engine) ReadsAny(platform string, names ...string) bool {
	want := map[int]bool{}
	for _, n := range names {
		if i, ok := lookupField(n); ok {
			want[i] = true
		}
	}
	for _, c := range e.byPlatform[platform] {
		for _, s := range c.searches {
			for _, and := range s.matchers {
				for _, m := range and {
					if m.field.idx >= 0 && want[m.field.idx] {
						return true
					}
					for _, t := range m.tests {
						if t.op == opFieldRef && t.ref.idx >= 0 && want[t.ref.idx] {
							return true
						}
					}
				}
			}
		}
	}
	return false
}
