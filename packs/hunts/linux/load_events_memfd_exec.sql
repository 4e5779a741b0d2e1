-- name: load_events_memfd_exec
-- description: A program was executed from a memfd (fexecve of an in-memory file), seen as it happened.
-- technique: T1620, T1129
-- platform: linux
-- interval: 300
-- logging: differential_ignore_removals
-- tables: module_load_events
-- why: fileless ELF execution (memfd_create, write, fexecve: ezuri, DDexec-style stagers, many Linux implants)
--   leaves no file; a stager that exits at once is gone before any snapshot. The exec event names the memfd and
--   keeps the command line the kernel had.
-- false_positives: container runtimes that re-execute themselves from a sealed memfd (runc's
--   "memfd:runc_cloned:/proc/self/exe", "memfd:sealed-*"): allowlist by process_path and the parent.
SELECT time, pid, parent, process_name, process_path, cmdline, uid, path, reasons
FROM module_load_events
WHERE kind = 'exec' AND memfd = 1
