-- name: untrusted_dylib_inserted
-- description: A dylib outside Apple's locations was inserted into a process through DYLD_INSERT_LIBRARIES and is loaded.
-- technique: T1574.006, T1129
-- platform: darwin
-- interval: 900
-- logging: snapshot
-- tables: untrusted_module_loads
-- why: DYLD_INSERT_LIBRARIES is macOS's LD_PRELOAD. untrusted_module_loads calls a module "preloaded" only when
--   the process's environment names it and it is mapped, so a row is an insertion dyld honoured, not a variable
--   a hardened binary ignored (dyld_insert_libraries_environment lists those). Processes whose environment the
--   kernel withholds (setuid, restricted) are not judged for it; dyld ignores the variable there anyway.
-- false_positives: Xcode's sanitizers and previews (libclang_rt.*, PreviewsInjection), Instruments, and
--   developers testing a dylib. Allowlist by the dylib's sha256 or by process_path.
-- policy: No untrusted dylib inserted with DYLD_INSERT_LIBRARIES
-- resolution: Find who set the variable (the parent's environment, a LaunchAgent's plist
--   EnvironmentVariables, launchctl setenv); remove it, keep the dylib and treat processes started since as
--   suspect.
SELECT pid, process_name, process_path, cmdline, uid, path, sha256, reasons, severity
FROM untrusted_module_loads
WHERE (',' || reasons || ',') LIKE '%,preloaded,%'
