-- name: untrusted_module_remote
-- description: A process has a module mapped from a network filesystem (NFS, SMB/CIFS, sshfs, a UNC path).
-- technique: T1129, T1021.002
-- platform: all
-- interval: 3600
-- logging: snapshot
-- tables: untrusted_module_loads
-- why: loading a library straight from a share runs code the host never stored and no local scanner saw;
--   attackers use it for lateral movement (\\host\share\payload.dll, WebDAV) and to keep the payload off disk.
-- false_positives: home directories or build trees on NFS (developer tools loading project libraries),
--   software deployed to a read-only share on purpose. Allowlist by the share's path prefix in the trust
--   policy (trusted directories), so the load stops being untrusted at the source.
-- policy: No module loaded from a network share
-- resolution: Check which share the module came from and who wrote it; if the share is not an approved
--   software location, treat the process as compromised.
SELECT pid, process_name, process_path, cmdline, uid, path, fs_type, sha256, reasons, severity
FROM untrusted_module_loads
WHERE (',' || reasons || ',') LIKE '%,remote,%'
