-- name: untrusted_module_unsigned_outside_trusted
-- description: A process has a DLL loaded from outside %SystemRoot% and Program Files that is unsigned or whose signature does not verify.
-- technique: T1574.001, T1574.002, T1129, T1553.002
-- platform: windows
-- interval: 3600
-- logging: snapshot
-- tables: untrusted_module_loads
-- why: DLL search-order hijacking and side-loading put an unsigned payload next to a signed program in a
--   folder the user can write (Downloads, AppData, C:\Users\Public, a USB stick); a signature that does not
--   verify (tampered, self-signed, revoked) is worse. Inside the trusted folders Windows' own DLLs are all
--   signed, so the pair "outside + unsigned" is the classic side-load.
-- false_positives: per-user applications installed under AppData (Teams, Slack, Discord ship some unsigned
--   DLLs), developers' build output, portable tools. Allowlist by signer (allow_signers) or path in the trust
--   policy.
SELECT pid, process_name, process_path, cmdline, path, sha256, reasons, severity
FROM untrusted_module_loads
WHERE (',' || reasons || ',') LIKE '%,outside_trusted_dirs,%'
  AND ((',' || reasons || ',') LIKE '%,unsigned,%' OR (',' || reasons || ',') LIKE '%,untrusted_signature,%')
