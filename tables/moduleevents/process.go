package moduleevents

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/tables/inventory"
)

// What a row carries of its process. Every row of a process repeats the
// process-wide values (Image, CommandLine, ParentImage, ParentCommandLine
// and the ProcessModules names), so without a bound rows cost the square of
// a process's module count: one process mapping 20,000 files from /tmp made
// module_detections hold gigabytes. A process's rows share ProcessRowsMax
// bytes per value: each row carries each value cut to ProcessRowsMax
// divided by the process's row count, but never to less than RowValueMin.
// A process with a handful of rows keeps everything; one with thousands
// costs at most RowValueMin per value and row.
const (
	ProcessRowsMax = 64 << 10
	RowValueMin    = 128
)

// Keys Process.RowView's fields add when a value was cut.
const (
	// TruncatedKey names the fields cut, comma-separated.
	TruncatedKey = "Truncated"
	// ModulesTotalKey is how many names ProcessModules had before the cut.
	ModulesTotalKey = "ProcessModulesTotal"
)

// RowLimit is the bytes each process-wide value may take in each of rows
// rows of one process.
func RowLimit(rows int) int { return max(RowValueMin, ProcessRowsMax/max(rows, 1)) }

// Process is what every event of one process shares, built once before its
// first event and never changed after: the events reference its strings and
// its module list, and nothing of it is copied per event.
type Process struct {
	*inventory.Process
	// Parent is the parent's entry in the same scan, or nil.
	Parent *inventory.Process
	// Modules is the events' ProcessModules: the base name of every file
	// mapped executable in the process, its own executable included. Rules
	// match against all of it.
	Modules []string
}

// RowView is a process's values as each of its rows carries them, cut to
// one limit: substrings and a subslice of the Process's own, no copies.
type RowView struct {
	image, cmdline, parentImage, parentCmdline string
	modules                                    []string
	total                                      int
	truncated                                  string
}

// RowView cuts the process-wide values to limit bytes each (RowLimit);
// ProcessModules keeps the leading names that fit.
func (p *Process) RowView(limit int) *RowView {
	v := &RowView{total: len(p.Modules)}
	var cut []string
	bound := func(field, s string) string {
		if len(s) <= limit {
			return s
		}
		cut = append(cut, field)
		n := limit
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		return s[:n]
	}
	v.image, v.cmdline = bound("Image", p.Path), bound("CommandLine", p.Cmdline)
	if p.Parent != nil {
		v.parentImage, v.parentCmdline = bound("ParentImage", p.Parent.Path), bound("ParentCommandLine", p.Parent.Cmdline)
	}
	size, n := 0, 0
	for n < len(p.Modules) && size+len(p.Modules[n]) <= limit {
		size += len(p.Modules[n])
		n++
	}
	v.modules = p.Modules[:n:n]
	if n < len(p.Modules) {
		cut = append(cut, "ProcessModules")
	}
	v.truncated = strings.Join(cut, ",")
	return v
}

// Fields renders an event of the process as MarshalFields does, with the
// process-wide values as the view cut them. When a value was cut,
// TruncatedKey names the fields cut and, for ProcessModules,
// ModulesTotalKey says how many names there were. Rules matched the whole
// event; the whole module list is process_loaded_modules' rows for the pid.
func (v *RowView) Fields(ev *detections.Event) ([]byte, error) {
	m := ev.Fields()
	if v.truncated != "" {
		set := func(k, s string) {
			if s != "" {
				m[k] = s
			}
		}
		set("Image", v.image)
		set("CommandLine", v.cmdline)
		set("ParentImage", v.parentImage)
		set("ParentCommandLine", v.parentCmdline)
		if len(v.modules) < v.total {
			if len(v.modules) > 0 {
				m["ProcessModules"] = v.modules
			} else {
				delete(m, "ProcessModules")
			}
			m[ModulesTotalKey] = v.total
		}
		m[TruncatedKey] = v.truncated
	}
	return marshal(m)
}

func marshal(m map[string]any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
