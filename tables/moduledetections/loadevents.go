package moduledetections

import (
	"fmt"
	"strings"

	"github.com/modhunt/modhunt/tables/loadevents"
	"github.com/modhunt/modhunt/tables/loadstream"
	"github.com/modhunt/modhunt/tables/moduleevents"
	"github.com/modhunt/modhunt/tables/table"
)

// appendEventMatches adds the rule matches of the load event stream
// (module_load_events' buffer): a load matched when it happened, so a
// process gone before the query still has its detection. The buffer is
// read as module_load_events reads it (a scheduled query sees each match
// once, an ad hoc query every buffered one), under its own position: a
// scheduled query that reads both tables sees each event in both. The
// event's fields carry EventTime, EventID and EventKind.
func appendEventMatches(rows []table.Row, s *loadstream.Stream, q table.Query) ([]table.Row, error) {
	// The stream is not started here: until its host or a query of
	// module_load_events starts it, its buffer is empty anyway.
	if s == nil {
		return rows, nil
	}
	r := loadevents.ReaderOf(q)
	if r.Query != "" {
		r.Query = Name + ":" + r.Query
	}
	res := s.Read(r)
	pids := q.PIDs()
	withFields := q.Uses("fields")
	for _, e := range res.Entries {
		l := e.Value
		if len(l.Matches) == 0 || (pids != nil && !hasPID(pids, int(l.PID))) {
			continue
		}
		ev := l.DetectionEvent()
		var fields []byte
		if withFields {
			var err error
			if fields, err = moduleevents.MarshalFields(&ev); err != nil {
				return rows, fmt.Errorf("load event %d: %w", e.EID, err)
			}
		}
		reasons := strings.Join(l.Reasons, ",")
		for _, rule := range l.Matches {
			rows = append(rows, table.Row{
				rule.ID, rule.Title, rule.Level, strings.Join(rule.Tags, ","), rule.SiemRule(), rule.Source,
				table.Int(l.PID), l.Comm, ev.Image, ev.ImageLoaded, ev.User, reasons, string(fields),
			})
		}
	}
	return rows, nil
}

func hasPID(pids []int, pid int) bool {
	for _, p := range pids {
		if p == pid {
			return true
		}
	}
	return false
}
