-- name: unbacked_rwx_outside_jit
-- description: A process that is not a known JIT runtime holds memory no image file backs that is writable and executable at once.
-- technique: T1055, T1620
-- platform: all
-- interval: 3600
-- logging: snapshot
-- tables: unbacked_executable_memory
-- why: shellcode loaders and injected payloads allocate RWX memory to write and run code in one region;
--   ordinary compiled programs never need it. Known JIT runtimes (jit_host = 1) are set aside.
-- false_positives: JIT runtimes missing from the jit_hosts list (add them in the policy file), old programs
--   with executable stacks, emulators, and on Windows some anti-cheat, DRM and security products' hooks. Stack the sha256 column across hosts.
-- policy: No RWX memory outside JIT runtimes
-- resolution: Read the region's first bytes (sha256, header), dump it, and investigate the process's parent
--   and command line.
SELECT pid, process_name, process_path, cmdline, parent, address, size, region_type, header, sha256
FROM unbacked_executable_memory
WHERE protection = 'rwx' AND jit_host = 0
