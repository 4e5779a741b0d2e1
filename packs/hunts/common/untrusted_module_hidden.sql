-- name: untrusted_module_hidden
-- description: A process has a module loaded from a hidden file or directory (a path component starting with a dot).
-- technique: T1129, T1564.001
-- platform: posix
-- interval: 3600
-- logging: snapshot
-- tables: untrusted_module_loads
-- why: malware hides its library in dot-directories (~/.cache/.x, /var/tmp/.ICE-unix/.lib) that ls and file
--   managers do not show; legitimate libraries live in visible, installed locations.
-- false_positives: per-user caches of language runtimes and IDEs (~/.cache/pip wheels built in place,
--   ~/.vscode-server, ~/.cargo, ~/.rustup, ~/.local/lib/python3*/site-packages). Allowlist those prefixes as
--   trusted directories in the trust policy, or by process_path in the SIEM.
-- policy: No module loaded from a hidden path
-- resolution: Look at the file and who owns it; if it is not a known runtime's cache, kill the process and
--   investigate the user account.
SELECT pid, process_name, process_path, cmdline, uid, path, sha256, reasons, severity
FROM untrusted_module_loads
WHERE (',' || reasons || ',') LIKE '%,hidden,%'
