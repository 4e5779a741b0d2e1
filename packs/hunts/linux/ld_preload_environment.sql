-- name: ld_preload_environment
-- description: A running process has LD_PRELOAD or LD_AUDIT set, with the library names it asks the dynamic linker to inject.
-- technique: T1574.006
-- platform: linux
-- interval: 3600
-- logging: snapshot
-- tables: process_envs, processes
-- why: osqueryd without the extension can still see the injection request itself: LD_PRELOAD and LD_AUDIT
--   in a process's environment. This is the core-table companion of untrusted_module_preloaded; it also
--   catches a preload that failed to load or one from a trusted directory (a planted system library).
-- false_positives: the same as untrusted_module_preloaded (fakeroot, libeatmydata, jemalloc, profilers)
--   plus snap's and flatpak's own helpers. Allowlist by value (the library path) in the SIEM.
SELECT e.pid, p.name AS process_name, p.path AS process_path, p.cmdline, p.uid, e.key, e.value
FROM process_envs AS e
JOIN processes AS p ON p.pid = e.pid
WHERE e.key IN ('LD_PRELOAD', 'LD_AUDIT')
  AND e.value != ''
