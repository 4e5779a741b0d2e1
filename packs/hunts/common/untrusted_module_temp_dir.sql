-- name: untrusted_module_temp_dir
-- description: A process has a module mapped from a temporary directory (/tmp, /var/tmp, /dev/shm, %TEMP%).
-- technique: T1129, T1574
-- platform: all
-- interval: 900
-- logging: snapshot
-- tables: untrusted_module_loads
-- why: droppers write their payload library to a world-writable temporary directory and load it from there
--   (dlopen, LoadLibrary, LD_PRELOAD); legitimate software loads from installed locations. A module in a temp
--   directory is the commonest T1129 artefact and one of the cheapest to find.
-- false_positives: installers and self-extracting archives that unpack helper libraries to a temp directory
--   while they run (they vanish with the installer), JIT and FFI toolchains (cffi, JNA, PyInstaller onefile
--   bundles unpack to /tmp/_MEI*). Allowlist by sha256 or by process_path in the SIEM; a permanent entry
--   belongs in the trust policy, not in this query.
-- policy: No module loaded from a temp directory
-- resolution: Identify the process (pid, process_path, cmdline) and the module (path, sha256); if the module
--   is not a known installer's, kill the process, keep the file and investigate how it got there.
SELECT pid, process_name, process_path, cmdline, uid, path, sha256, reasons, severity
FROM untrusted_module_loads
WHERE (',' || reasons || ',') LIKE '%,temp_dir,%'
