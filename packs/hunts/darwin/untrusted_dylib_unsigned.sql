-- name: untrusted_dylib_unsigned
-- description: A process has a Mach-O module loaded that carries no code signature, with what osquery's signature table says of it.
-- technique: T1129, T1553.002
-- platform: darwin
-- interval: 3600
-- logging: snapshot
-- tables: untrusted_module_loads, signature
-- why: on Apple silicon every loaded image is signed (ad hoc at least), so an unsigned one runs under Rosetta
--   or on an Intel Mac, where attackers' dylibs often come unsigned. modhunt reads only whether
--   LC_CODE_SIGNATURE is present; the signature table checks the signature itself (valid, identifier, team),
--   and the JOIN puts both in one row.
-- false_positives: developers' own builds on Intel Macs, old Homebrew bottles, plugins of x86_64 apps. Allowlist
--   by sha256 or process_path.
-- policy: No unsigned dylib loaded
-- resolution: Identify the module (path, sha256) and who wrote it; a dylib that should not be there means the
--   process is compromised.
SELECT u.pid, u.process_name, u.process_path, u.cmdline, u.uid, u.path, u.sha256, u.reasons, u.severity,
  s.signed AS signature_valid, s.identifier, s.team_identifier, s.authority
FROM untrusted_module_loads AS u
LEFT JOIN signature AS s ON s.path = u.path
WHERE (',' || u.reasons || ',') LIKE '%,unsigned,%'
