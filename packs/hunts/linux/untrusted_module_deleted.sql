-- name: untrusted_module_deleted
-- description: A process has a module mapped whose file was deleted and whose path no package owns.
-- technique: T1129, T1070.004
-- platform: linux
-- interval: 3600
-- logging: snapshot
-- tables: untrusted_module_loads
-- why: loading a library and then deleting it hides the file from disk scanners while the code keeps
--   running. Package upgrades also leave deleted libraries mapped in long-running processes, but those paths
--   are still owned by the upgraded package, so requiring an unowned path keeps upgrades out.
-- false_positives: software installed outside the package manager that updates itself in place (some
--   browsers under /opt, language runtimes under a home directory) until the process restarts. Allowlist by
--   process_path in the SIEM, or restart the process.
-- policy: No deleted unowned module in memory
-- resolution: Recover the file from /proc/PID/map_files before the process exits, hash it, and find out
--   what loaded it and why it was removed.
SELECT pid, process_name, process_path, cmdline, uid, path, sha256, reasons, severity
FROM untrusted_module_loads
WHERE (',' || reasons || ',') LIKE '%,deleted,%'
  AND (package IS NULL OR package = '')
