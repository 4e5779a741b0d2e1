-- name: module_detection_siem_rule
-- description: One of modhunt's built-in Windows rules that mirror a MaxPatrol SIEM correlation rule (PT-CR-...) matches a running process's module loads.
-- technique: T1129, T1003.001, T1620, T1021.002
-- platform: windows
-- interval: 900
-- logging: snapshot
-- tables: module_detections
-- why: the PT-CR rules (comsvcs MiniDump through rundll32, CLR or PowerShell engines in processes that
--   should not host them, modules from remote shares, Dirty Vanity clones) are written for Sysmon Event
--   ID 7; module_detections evaluates them on a snapshot of live processes, so a host without Sysmon, or one
--   whose events never reached the SIEM, still answers them. siem_rule names the SIEM rule for correlation.
-- false_positives: as each rule's falsepositives section says (admin tools hosting PowerShell, backup agents
--   dumping their own processes). Allowlist by rule_id plus process_path in the SIEM.
SELECT siem_rule, rule_id, rule_title, level, pid, process_name, process_path, user, path, untrusted_reasons, fields
FROM module_detections
WHERE siem_rule != ''
