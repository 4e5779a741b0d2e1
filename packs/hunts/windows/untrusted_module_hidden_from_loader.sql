-- name: untrusted_module_hidden_from_loader
-- description: A process has a DLL mapped as an image that its loader's module list does not have: mapped by hand or unlinked after loading.
-- technique: T1620, T1055.001, T1129
-- platform: windows
-- interval: 900
-- logging: snapshot
-- tables: untrusted_module_loads
-- why: reflective and manual-mapping loaders (and module stomping) map a PE with CreateFileMapping(SEC_IMAGE)
--   or by hand and never tell the loader, and some implants unlink themselves from the PEB's lists, so that
--   Toolhelp, EnumProcessModules and anything built on them no longer see the DLL. The memory view still
--   does: an image mapping no loader list has is exactly that trace (MITRE DET0018's "module not in the
--   loader list").
-- false_positives: security products and anti-cheat engines that map images themselves, and the loader's
--   own short-lived image views while a DLL is being loaded (seen once, gone at the next snapshot).
--   Allowlist by process_path in the SIEM after review; never by path alone.
-- policy: No module mapped outside the loader's list
-- resolution: Dump the process's memory at the module's base, identify the mapped file (path, sha256) and
--   whoever mapped it (the process's parent, its command line), then isolate the host.
SELECT pid, process_name, process_path, cmdline, path, sha256, reasons, severity
FROM untrusted_module_loads
WHERE (',' || reasons || ',') LIKE '%,hidden_from_loader,%'
