-- name: untrusted_module_preloaded
-- description: A module outside the trusted locations was force-loaded through /etc/ld.so.preload or LD_PRELOAD.
-- technique: T1574.006, T1129
-- platform: linux
-- interval: 900
-- logging: snapshot
-- tables: untrusted_module_loads
-- why: the dynamic linker's preload list puts a library into every process (ld.so.preload) or into every
--   child of a shell (LD_PRELOAD); userland rootkits (Azazel, Jynx2, libprocesshider) and credential sniffers
--   use it. untrusted_module_loads marks a module "preloaded" when the process's environment or
--   /etc/ld.so.preload names it, so this one query covers both, including processes that cleared their
--   environment after start.
-- false_positives: libeatmydata, fakeroot and faketime in build jobs, jemalloc or tcmalloc preloaded by a
--   service unit, and profilers. Allowlist by the library's sha256 or by the service's process_path; a
--   preload you want everywhere belongs in the trust policy.
-- policy: No untrusted library force-loaded by ld.so.preload or LD_PRELOAD
-- resolution: Read /etc/ld.so.preload and the process's environment; remove the entry, then treat every
--   process started since as suspect.
SELECT pid, process_name, process_path, cmdline, uid, path, sha256, reasons, severity
FROM untrusted_module_loads
WHERE (',' || reasons || ',') LIKE '%,preloaded,%'
