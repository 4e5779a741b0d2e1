-- name: module_detection_high
-- description: A Sigma image-load rule of level high or critical matches a module loaded in a running process.
-- technique: T1129, T1574.001, T1574.002
-- platform: all
-- interval: 900
-- logging: snapshot
-- tables: module_detections
-- why: module_detections evaluates the community's image_load rules (Sysmon Event ID 7 field names) over
--   every loaded module; the high and critical ones name known-bad loads (hijack-prone DLLs outside their
--   home, offensive-tool modules, credential-theft helpers), which is the T1129 signal with the fewest
--   false positives. Medium and low rules are left to ad-hoc hunting: on their own they fire on healthy hosts.
-- false_positives: security and backup agents that inject their own modules, and admin tools a rule names
--   by design. Allowlist by rule_id plus process_path in the SIEM, or fix the rule's filter upstream and
--   reload it; do not widen this query's WHERE clause.
-- policy: No high or critical module-load detection
-- resolution: Open the host's module_detections rows (rule_id, path, fields) and triage each; a true
--   positive is an incident, a false positive goes into the rule's filter.
SELECT rule_id, rule_title, level, tags, pid, process_name, process_path, user, path, untrusted_reasons, fields
FROM module_detections
WHERE level IN ('high', 'critical')
