-- name: untrusted_module_unowned_system_dir
-- description: A module under a system library directory (/lib, /usr/lib, /lib64, /usr/lib64) is loaded although no installed package owns it.
-- technique: T1129, T1574.006
-- platform: linux
-- interval: 3600
-- logging: snapshot
-- tables: untrusted_module_loads
-- why: a library planted next to the real ones (a hijacked libc name, an extra NSS or PAM module) inherits
--   the trust of its directory; the package database is how to tell it apart. Everything the distribution
--   ships there is package-owned, so an unowned file is either a manual install or a plant.
-- false_positives: vendor software copied in by hand or by a non-package installer (GPU drivers installed
--   with a .run file, proprietary agents), and files left behind by removed packages. Allowlist by sha256,
--   or reinstall the software from a package.
-- policy: No unowned library loaded from a system library directory
-- resolution: Find out who installed the file (ctime, owner, the installer logs); if nobody did, remove it
--   and investigate the processes that loaded it.
SELECT pid, process_name, process_path, cmdline, uid, path, sha256, reasons, severity
FROM untrusted_module_loads
WHERE (',' || reasons || ',') LIKE '%,not_package_owned,%'
  AND (path LIKE '/lib/%' OR path LIKE '/lib64/%' OR path LIKE '/usr/lib/%' OR path LIKE '/usr/lib64/%')
