-- name: load_events_source_health
-- description: module_load_events is blind or losing events: its eBPF source is not running (with the reason), or events were dropped.
-- technique: T1562.001
-- platform: linux
-- interval: 3600
-- logging: snapshot
-- tables: module_load_events_status
-- why: an evented table that silently sees nothing is worse than none. This reports a source that could not
--   start (no BTF, no CAP_BPF, a kernel without syscall tracepoints, --disable_events), and any event lost on
--   the way (kernel ring full, reader behind, pushed out of the buffer by its bound), so the absence of findings in
--   load_events_untrusted means something.
-- false_positives: a load storm (a build farm, a test suite) fills the buffer and drops the oldest events:
--   raise --events_max or shorten the interval of the event hunts. Hosts where eBPF is not allowed by
--   design report unavailable every time; exclude them in the SIEM.
SELECT state, reason, hooks, drops, buffer_dropped, misses, expired, buffered, last_eid
FROM module_load_events_status
WHERE state != 'running' OR drops > 0 OR misses > 0 OR buffer_dropped > 0
