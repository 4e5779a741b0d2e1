-- osquery core tables the hunts may read, declared so CI can parse every hunt
-- with SQLite (a misspelt column fails the build) and so the generator knows
-- which tables are osquery's and which are modhunt's (only modhunt's go into a
-- pack's discovery query).
--
-- Written by hand from osquery/osquery specs/*.table at a5b14f63 (2026-08-06;
-- those files are unchanged since tag 5.23.1). Columns of extended_schema()
-- blocks are included and marked with the platform they exist on; hidden
-- columns are included because queries may name them. To add a table, copy its
-- columns and types from its spec and give it a `-- platform:` line (all,
-- posix, linux, windows, darwin: where osquery builds the table).

-- specs/processes.table
-- platform: all
CREATE TABLE processes (
  pid BIGINT, name TEXT, path TEXT, cmdline TEXT, state TEXT, cwd TEXT, root TEXT,
  uid BIGINT, gid BIGINT, euid BIGINT, egid BIGINT, suid BIGINT, sgid BIGINT,
  on_disk INTEGER, wired_size BIGINT, resident_size BIGINT, total_size BIGINT,
  user_time BIGINT, system_time BIGINT, disk_bytes_read BIGINT, disk_bytes_written BIGINT,
  start_time BIGINT, parent BIGINT, pgroup BIGINT, threads INTEGER, nice INTEGER,
  -- windows
  elevated_token INTEGER, secure_process INTEGER, protection_type TEXT, virtual_process INTEGER,
  elapsed_time BIGINT, handle_count BIGINT, percent_processor_time BIGINT,
  -- darwin
  upid BIGINT, uppid BIGINT, cpu_type INTEGER, cpu_subtype INTEGER, translated INTEGER,
  -- linux
  cgroup_path TEXT
);

-- specs/posix/process_envs.table
-- platform: posix
CREATE TABLE process_envs (pid INTEGER, key TEXT, value TEXT);

-- specs/process_memory_map.table
-- platform: all
CREATE TABLE process_memory_map (
  pid INTEGER, start TEXT, "end" TEXT, permissions TEXT, offset BIGINT,
  device TEXT, inode INTEGER, path TEXT, pseudo INTEGER
);

-- specs/posix/process_open_files.table
-- platform: posix
CREATE TABLE process_open_files (pid BIGINT, fd BIGINT, path TEXT);

-- specs/utility/file.table
-- platform: all
CREATE TABLE file (
  path TEXT, directory TEXT, filename TEXT, inode BIGINT, uid BIGINT, gid BIGINT,
  mode TEXT, device BIGINT, size BIGINT, block_size INTEGER,
  atime BIGINT, mtime BIGINT, ctime BIGINT, btime BIGINT,
  hard_links INTEGER, symlink INTEGER, type TEXT, symlink_target_path TEXT,
  -- windows
  attributes TEXT, volume_serial TEXT, file_id TEXT, file_version TEXT, product_version TEXT,
  original_filename TEXT, shortcut_target_path TEXT, shortcut_target_type TEXT,
  shortcut_target_location TEXT, shortcut_start_in TEXT, shortcut_run TEXT, shortcut_comment TEXT,
  -- darwin
  bsd_flags TEXT,
  -- linux (hidden)
  pid_with_namespace INTEGER, mount_namespace_id TEXT
);

-- specs/hash.table
-- platform: all
CREATE TABLE hash (
  path TEXT, directory TEXT, md5 TEXT, sha1 TEXT, sha256 TEXT,
  -- linux (hidden)
  pid_with_namespace INTEGER, mount_namespace_id TEXT
);

-- specs/windows/authenticode.table
-- platform: windows
CREATE TABLE authenticode (
  path TEXT, original_program_name TEXT, serial_number TEXT, issuer_name TEXT,
  subject_name TEXT, result TEXT
);

-- specs/darwin/signature.table
-- platform: darwin
CREATE TABLE signature (
  path TEXT, hash_resources INTEGER, hash_executable INTEGER, arch TEXT, signed INTEGER,
  identifier TEXT, cdhash TEXT, team_identifier TEXT, authority TEXT, entitlements TEXT
);

-- specs/utility/osquery_registry.table
-- platform: all
CREATE TABLE osquery_registry (registry TEXT, name TEXT, owner_uuid INTEGER, internal INTEGER, active INTEGER);

-- specs/utility/osquery_info.table (the Fleet labels test platform_mask)
-- platform: all
CREATE TABLE osquery_info (
  pid INTEGER, uuid TEXT, instance_id TEXT, version TEXT, config_hash TEXT, config_valid INTEGER,
  extensions TEXT, build_platform TEXT, build_distro TEXT, start_time INTEGER, watcher INTEGER,
  platform_mask INTEGER
);

-- specs/utility/osquery_extensions.table
-- platform: all
CREATE TABLE osquery_extensions (uuid BIGINT, name TEXT, version TEXT, sdk_version TEXT, path TEXT, type TEXT);
