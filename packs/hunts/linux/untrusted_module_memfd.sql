-- name: untrusted_module_memfd
-- description: A process has a module mapped from a memfd (an anonymous in-memory file), so it was never on disk.
-- technique: T1129, T1620, T1055.009
-- platform: linux
-- interval: 900
-- logging: snapshot
-- tables: untrusted_module_loads
-- why: memfd_create plus dlopen("/proc/self/fd/N") loads a shared object that exists only in memory; it is
--   the standard fileless loader on Linux (ezuri, Sliver, Metasploit's in-memory stagers) and leaves nothing
--   for a file scanner to find.
-- false_positives: container runtimes that re-execute themselves from a sealed memfd so a container cannot
--   overwrite the host binary (runc's "memfd:runc_cloned:/proc/self/exe", and similar "memfd:sealed-*"
--   helpers: the row's path equals its process_path), and JITs that map code from memfds on purpose (.NET's
--   W^X "doublemapper", some Chromium/Electron and JVM builds). Allowlist by sha256 together with the memfd
--   name (the path column) in the SIEM; never by memfd name alone, which the attacker chooses.
-- policy: No module mapped from a memfd
-- resolution: Dump the mapping (/proc/PID/map_files) before killing the process, then investigate what
--   started it (parent, cmdline, user).
SELECT pid, process_name, process_path, cmdline, uid, path, sha256, reasons, severity
FROM untrusted_module_loads
WHERE (',' || reasons || ',') LIKE '%,memfd,%'
