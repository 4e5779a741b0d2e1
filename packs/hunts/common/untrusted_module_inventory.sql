-- name: untrusted_module_inventory
-- description: Every module loaded from outside the trusted system locations, once per file (path and sha256), for fleet-wide stacking.
-- technique: T1129
-- platform: all
-- interval: 21600
-- logging: differential
-- kind: inventory
-- tables: untrusted_module_loads
-- why: a module seen on one host out of thousands is worth a look even when no single reason makes it bad.
--   Counting hosts per sha256 (and per path) in the SIEM finds those rarities; the differential log sends a
--   module once when it first appears and once when it goes away, so the stream stays small. Rows are one
--   per file, not per process, so restarting a process does not resend anything.
-- false_positives: this is an inventory, not a detection: it returns rows on every host. Stack it (count of
--   hosts per sha256, ascending) and look at the tail; allowlist well-known software by sha256 or package in
--   the SIEM's lookup table.
SELECT DISTINCT path, name, sha256, package, owner_uid, mode
FROM untrusted_module_loads
