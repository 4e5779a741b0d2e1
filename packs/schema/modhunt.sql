-- modhunt tables as the hunts expect them, for parsing hunts that read a table
-- tables.Catalog does not define yet (one still being written). Once it does,
-- CI parses the hunts against the real definition instead, on every platform,
-- and fails if a column declared here is missing from it or has another type,
-- so keep this file in step with the table definitions.
--
-- platform: where the table is (or will be) served.

-- tables/loadedmodules
-- platform: all
CREATE TABLE process_loaded_modules (
  pid BIGINT, process_name TEXT, process_path TEXT, cmdline TEXT, parent BIGINT, uid BIGINT,
  path TEXT, name TEXT, base_address TEXT, size BIGINT, permissions TEXT, inode BIGINT,
  device TEXT, deleted INTEGER, memfd INTEGER, executable INTEGER, file_type TEXT
);

-- tables/untrusted
-- platform: all
CREATE TABLE untrusted_module_loads (
  pid BIGINT, process_name TEXT, process_path TEXT, cmdline TEXT, uid BIGINT,
  path TEXT, name TEXT, reasons TEXT, severity TEXT, sha256 TEXT, sha256_skipped TEXT, package TEXT,
  owner_uid BIGINT, mode TEXT, fs_type TEXT
);

-- module_detections (Sigma image_load rules over module loads)
-- platform: all
CREATE TABLE module_detections (
  rule_id TEXT, rule_title TEXT, level TEXT, tags TEXT, siem_rule TEXT, rule_source TEXT,
  pid BIGINT, process_name TEXT, process_path TEXT, path TEXT, user TEXT, untrusted_reasons TEXT,
  fields TEXT
);
