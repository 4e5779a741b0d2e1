-- name: dyld_insert_libraries_environment
-- description: A running process has DYLD_INSERT_LIBRARIES (or another DYLD_ injection variable) set.
-- technique: T1574.006
-- platform: darwin
-- interval: 3600
-- logging: snapshot
-- tables: process_envs, processes
-- why: DYLD_INSERT_LIBRARIES is macOS's LD_PRELOAD: dyld loads the named dylibs into the process before its
--   own code runs. Hardened-runtime binaries ignore it, so it survives in the environment of exactly the
--   processes it can still inject into (unsigned tools, apps with the allow-dyld-environment entitlement).
-- false_positives: Xcode's and Instruments' sanitizers (libclang_rt.*), developers testing dylibs, and
--   build scripts that set DYLD_LIBRARY_PATH or DYLD_FRAMEWORK_PATH. Allowlist by value in the SIEM.
SELECT e.pid, p.name AS process_name, p.path AS process_path, p.cmdline, p.uid, e.key, e.value
FROM process_envs AS e
JOIN processes AS p ON p.pid = e.pid
WHERE e.key IN ('DYLD_INSERT_LIBRARIES', 'DYLD_FRAMEWORK_PATH', 'DYLD_LIBRARY_PATH')
  AND e.value != ''
