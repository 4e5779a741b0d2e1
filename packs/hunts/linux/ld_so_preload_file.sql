-- name: ld_so_preload_file
-- description: /etc/ld.so.preload exists and is not empty, so the dynamic linker injects the libraries it lists into every dynamically linked program.
-- technique: T1574.006
-- platform: linux
-- interval: 3600
-- logging: snapshot
-- tables: file
-- why: the preload file is the persistence point of most Linux userland rootkits (Azazel, Jynx2, Vlany,
--   libprocesshider, the cryptominers that hide themselves with it); distributions do not ship it, so its
--   mere presence on a server is worth a look. The file table reads only this one path, so it costs a stat.
--   untrusted_module_preloaded shows which processes actually loaded what it names.
-- false_positives: a few tools install themselves there on purpose: snoopy (command logger), some EDR and
--   DLP agents, libeatmydata on build hosts. Allowlist by host role in the SIEM; compare mtime with the
--   agent's install time.
-- policy: No /etc/ld.so.preload
-- resolution: Read the file and check every library it lists (owner package, hash); remove the entries you
--   cannot account for, then look for the processes that loaded them (untrusted_module_preloaded).
SELECT path, size, uid, mode, mtime, ctime
FROM file
WHERE path = '/etc/ld.so.preload'
  AND size > 0
