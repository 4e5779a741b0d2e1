-- name: load_events_foreign_interpreter
-- description: A program started with a program interpreter (PT_INTERP) that breaks the trust policy, seen as the kernel mapped it during exec.
-- technique: T1574, T1129
-- platform: linux
-- interval: 300
-- logging: differential_ignore_removals
-- tables: module_load_events
-- why: the interpreter runs before any library and before LD_PRELOAD or /etc/ld.so.preload is read; an ELF whose
--   PT_INTERP names a planted loader (patchelf --set-interpreter, a dropped ld-linux copy in /tmp) owns the process
--   with no preload variable or file to find. Only exec maps it: no dlopen or LD_PRELOAD hunt sees it, and a
--   stager that exits at once is gone before any snapshot.
-- false_positives: programs that ship their own ld.so (Nix and Guix store paths, AppImages, Flatpak and Snap
--   runtimes seen from the host, vendor toolchains under /opt): allowlist by path prefix.
SELECT time, pid, parent, process_name, process_path, cmdline, uid, path, reasons, severity
FROM module_load_events
WHERE is_interpreter = 1 AND reasons != ''
