package loadevents

import (
	"context"
	"strings"

	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/loadstream"
	"github.com/modhunt/modhunt/tables/table"
)

// StatusName is the status table's name.
const StatusName = "module_load_events_status"

// StatusColumns in row order.
var StatusColumns = []table.Column{
	{Name: "state", Type: table.Text, Description: "The eBPF source: running, unavailable (reason says why: not Linux, no BTF, no CAP_BPF, a tracepoint missing, the verifier's refusal, --disable_events), stopped, or not_started (no query has read the events yet and the host did not start it)."},
	{Name: "reason", Type: table.Text, Description: "Why the source is unavailable; empty while it runs."},
	{Name: "hooks", Type: table.Text, Description: "Each kernel hook, comma-separated, as name=attached, name=spare (not needed: the mmap system call tracepoints while maple_tree:ma_write sees every mapping) or name=off:reason. exec must attach, and maple_tree:ma_write or else the mmap tracepoints; mprotect and memfd_create are optional and off unless --events_syscall_hooks is given."},
	{Name: "emitted", Type: table.BigInt, Description: "Events the kernel side wrote to its ring buffer."},
	{Name: "ring_drops", Type: table.BigInt, Description: "Events the kernel side dropped because its ring buffer (1 MiB) was full."},
	{Name: "queue_drops", Type: table.BigInt, Description: "Events dropped because the extension's reader fell behind (its queue of 4,096 was full)."},
	{Name: "undecodable", Type: table.BigInt, Description: "Records read from the ring that did not decode (lost)."},
	{Name: "misses", Type: table.BigInt, Description: "Program runs the kernel skipped because another BPF program was running on the CPU: loads never seen."},
	{Name: "drops", Type: table.BigInt, Description: "Every event lost before the buffer: ring_drops + queue_drops + undecodable."},
	{Name: "buffered", Type: table.BigInt, Description: "Events in the buffer now."},
	{Name: "buffered_bytes", Type: table.BigInt, Description: "Memory the buffered events hold (estimate)."},
	{Name: "buffer_dropped", Type: table.BigInt, Description: "Events pushed out of the buffer by its bounds (--events_max events, 32 MiB) before they expired."},
	{Name: "expired", Type: table.BigInt, Description: "Events removed after --events_expiry."},
	{Name: "last_eid", Type: table.BigInt, Description: "The newest event's eid (0: none yet)."},
	{Name: "expiry", Type: table.BigInt, Description: "--events_expiry in seconds (-1: kept until pushed out)."},
	{Name: "matches", Type: table.BigInt, Description: "Sigma rule matches on the stream since the source started."},
	{Name: "watch_drops", Type: table.BigInt, Description: "Events a slow subscriber (watch) missed; the buffer still has them."},
}

// StatusSpec is the status table's definition.
var StatusSpec = table.Spec{
	Name: StatusName,
	Description: "One row: the state of module_load_events' eBPF source (running, or unavailable and why) and every counter " +
		"of events lost on the way (kernel ring, reader queue, buffer bounds, expiry).",
	Platforms: []string{table.Linux},
	Columns:   StatusColumns,
	Examples: []string{
		"SELECT state, reason, drops, buffer_dropped FROM module_load_events_status;",
	},
}

// NewStatus returns the status table over d.LoadEvents.
func NewStatus(d deps.Deps) (*table.Table, error) {
	s := d.LoadEvents
	if s == nil {
		s = loadstream.New(loadstream.Config{Log: d.Logger(), Disabled: true})
	}
	return &table.Table{
		Spec: StatusSpec,
		Generate: func(ctx context.Context, q table.Query) ([]table.Row, error) {
			// Reading the status starts the source like reading the events:
			// "not_started" would only say no one asked yet.
			_ = s.Start(context.Background())
			return []table.Row{statusRow(s.Status())}, nil
		},
	}, nil
}

func statusRow(st loadstream.Status) table.Row {
	src := st.Source
	state := string(src.State)
	if !st.Started {
		state = "not_started"
	}
	hooks := make([]string, len(src.Hooks))
	for i, h := range src.Hooks {
		switch {
		case h.Attached:
			hooks[i] = h.Name + "=attached"
		case h.Spare:
			hooks[i] = h.Name + "=spare"
		default:
			hooks[i] = h.Name + "=off:" + strings.ReplaceAll(h.Err, ",", ";")
		}
	}
	expiry := int64(st.Expiry.Seconds())
	if st.Expiry < 0 {
		expiry = -1
	}
	return table.Row{
		state, src.Reason, strings.Join(hooks, ","),
		table.Int(src.Emitted), table.Int(src.RingDrops), table.Int(src.QueueDrops),
		table.Int(src.Received - src.Decoded), table.Int(src.Misses), table.Int(src.Drops()),
		table.Int(st.Buffer.Events), table.Int(st.Buffer.Bytes), table.Int(st.Buffer.Dropped),
		table.Int(st.Buffer.Expired), table.Int(st.Buffer.LastEID), table.Int(expiry),
		table.Int(st.Matches), table.Int(st.SubscriberDrops),
	}
}
