-- name: unbacked_image_in_memory
-- description: A process holds executable memory that no file on disk backs and that begins with an ELF or PE header: a reflectively loaded image.
-- technique: T1620, T1055, T1129
-- platform: all
-- interval: 900
-- logging: snapshot
-- tables: unbacked_executable_memory
-- why: reflective DLL injection (Cobalt Strike, Havoc, Sliver) copies a whole PE into VirtualAlloc'd memory,
--   ELF loaders such as DDexec copy an ELF into anonymous memory or a memfd, and both run it without the
--   loader; the image's header is still at the start of the region unless the payload erased it. The first
--   page's sha256 stacks across the fleet.
-- false_positives: JIT runtimes rarely write whole ELF headers (jit_host marks them); container runtimes that
--   re-execute themselves from a sealed memfd (runc: path /memfd:runc_cloned...) and programs whose
--   library was replaced by a package upgrade while in use (region_type deleted-file, path under /usr/lib).
--   Allowlist by sha256 in the SIEM, never by process name.
-- policy: No executable image in memory that no file on disk backs
-- resolution: Dump the region (address, size bytes; /proc/PID/mem or a memory dump) before killing the process, then
--   investigate what started it (parent, cmdline).
SELECT pid, process_name, process_path, cmdline, parent, address, size, protection, region_type, path, header, sha256, jit_host
FROM unbacked_executable_memory
WHERE header IN ('elf', 'pe')
