-- name: untrusted_module_writable_by_user
-- description: A root process has a module loaded whose file (or directory) a non-root user can write.
-- technique: T1574.010, T1129
-- platform: linux
-- interval: 3600
-- logging: snapshot
-- tables: untrusted_module_loads
-- why: a library a user can replace is a privilege escalation waiting for the next restart of the root
--   process that loads it (T1574 hijack by weak permissions), and a sign it may already have been replaced.
-- false_positives: development machines running root services out of a user's build tree, and software
--   installed with a lax umask. Fix the permissions (chown root, chmod go-w) rather than allowlisting.
SELECT pid, process_name, process_path, cmdline, uid, path, sha256, owner_uid, mode, reasons, severity
FROM untrusted_module_loads
WHERE uid = 0
  AND ((',' || reasons || ',') LIKE '%,user_writable,%' OR (',' || reasons || ',') LIKE '%,exec_from_writable_mount,%')
