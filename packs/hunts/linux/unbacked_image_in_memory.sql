-- name: unbacked_image_in_memory
-- description: A process holds executable memory that no file on disk backs and that begins with an ELF or PE header: a reflectively loaded image.
-- technique: T1620, T1055, T1129
-- platform: linux
-- interval: 900
-- logging: snapshot
-- tables: unbacked_executable_memory
-- why: ELF loaders such as DDexec and in-memory stagers copy a whole image into anonymous memory or a memfd
--   and run it without the loader; the image's header is still at the start of the region. The first page's
--   sha256 stacks across the fleet.
-- false_positives: JIT runtimes rarely write whole ELF headers (jit_host marks them); container runtimes that
--   re-execute themselves from a sealed memfd (runc: path /memfd:runc_cloned...) and programs whose
--   library was replaced by a package upgrade while in use (region_type deleted-file, path under /usr/lib).
--   Allowlist by sha256 in the SIEM, never by process name.
-- policy: No executable image in memory that no file on disk backs
-- resolution: Dump the region (/proc/PID/mem at address, size bytes) before killing the process, then
--   investigate what started it (parent, cmdline).
SELECT pid, process_name, process_path, cmdline, parent, address, size, protection, region_type, path, header, sha256, jit_host
FROM unbacked_executable_memory
WHERE header IN ('elf', 'pe')
