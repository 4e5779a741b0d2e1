-- name: executable_mapping_of_non_code_file
-- description: A process runs code mapped from a file that is not a program or library (raw data or a script mapped executable).
-- technique: T1620, T1129
-- platform: all
-- interval: 900
-- logging: snapshot
-- tables: process_loaded_modules
-- why: loaders that carry their own mapping code (reflective loaders, shellcode runners) map a payload file
--   with execute permission without it being an ELF, PE or Mach-O image, so the system loader never sees it
--   and nothing lists it as a module. The file type is read from the mapped file itself, so a renamed
--   extension does not hide it.
-- false_positives: none known on a healthy host; emulators and JIT runtimes that map a code cache file
--   executable would show here (allowlist by process_path in the SIEM).
-- policy: No code mapped from a non-code file
-- resolution: Copy the file (/proc/PID/map_files on Linux) and the process's memory for analysis, then find
--   out what wrote the file and what started the process.
SELECT pid, process_name, process_path, cmdline, uid, path, permissions, size, file_type
FROM process_loaded_modules
WHERE executable = 1
  AND file_type IN ('data', 'script')
