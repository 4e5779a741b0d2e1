-- name: untrusted_module_renamed
-- description: A process has a DLL loaded whose version resource names another file (OriginalFileName), such as a copied and renamed comsvcs.dll.
-- technique: T1036.003, T1129, T1003.001
-- platform: windows
-- interval: 3600
-- logging: snapshot
-- tables: untrusted_module_loads
-- why: attackers copy a signed Windows DLL or tool under an innocent name so that rules keyed on names
--   ("comsvcs", "rundll32") miss it (PT-CR-303's renamed comsvcs.dll); the version resource keeps the real
--   name. Outside the trusted folders this is high severity.
-- false_positives: vendors that rename their DLLs at build time without updating the resource, and
--   side-by-side copies (foo64.dll claiming foo.dll). Allowlist by path or sha256 in the trust policy.
-- policy: No renamed module outside the trusted folders
-- resolution: Compare the module's sha256 with the file its OriginalFileName names; a renamed system DLL
--   outside System32 is an incident.
SELECT pid, process_name, process_path, cmdline, path, sha256, reasons, severity
FROM untrusted_module_loads
WHERE (',' || reasons || ',') LIKE '%,renamed,%'
