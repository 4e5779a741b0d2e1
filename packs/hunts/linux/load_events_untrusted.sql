-- name: load_events_untrusted
-- description: A module load, seen as it happened, that breaks the trust policy (from a temp or hidden or user-writable place, deleted, fileless), with the process that made it even if it is gone.
-- technique: T1129, T1574.006, T1620
-- platform: linux
-- interval: 300
-- logging: differential_ignore_removals
-- tables: module_load_events
-- why: a snapshot only sees what is still mapped when it runs; a loader that dlopen()s a library from /tmp,
--   runs it and exits between two scheduled queries leaves nothing in untrusted_module_loads. The evented
--   table keeps every load for --events_expiry (3600 s) and a scheduled query reads each one once, so the
--   short-lived ones are reported with their process context and the file as the kernel named it.
-- false_positives: the same as untrusted_module_loads (software that unpacks native helpers to /tmp:
--   PyInstaller one-file builds, JNA, some Java libraries; JITs and runtimes that map memfds), now also for
--   processes that ran for a moment. Allowlist in the trust policy (--policy) by path or process.
SELECT time, pid, parent, process_name, process_path, cmdline, uid, kind, path, device, inode, memfd, deleted,
  reasons, severity, rules
FROM module_load_events
WHERE reasons != ''
