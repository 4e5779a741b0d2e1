-- name: dotnet_in_memory_assembly
-- description: A .NET assembly that exists only in memory (Assembly.Load(byte[])) in a process that is not a known managed application.
-- technique: T1620, T1055
-- platform: all
-- interval: 3600
-- logging: differential
-- tables: dotnet_assembly_loads
-- why: execute-assembly (Cobalt Strike, Sliver, Havoc), PowerPick, DotNetToJScript and most .NET loaders
--   load their tooling from a byte array into a sacrificial or injected process, so the assembly has no
--   file and no Sysmon image-load event; its identity (name, version, token, MVID) is still in the host's
--   memory. The hunt skips processes whose own executable is an assembly (a managed program loading
--   plugins the same way) and the runtime launchers (mono, dotnet, PowerShell). The MVID names the build:
--   the same one in several hosts is one tool spreading.
-- false_positives: managed programs started through a launcher not listed here, plugin hosts and
--   obfuscated commercial software that unpack their own assemblies (mvid and assembly_name are stable
--   across runs: allowlist those in the SIEM), Visual Studio's and Rider's designers.
WITH d AS (
  SELECT pid, process_name, process_path, cmdline, runtime, path, assembly_name, assembly_version,
         public_key_token, mvid, in_memory, base_address, size
  FROM dotnet_assembly_loads
)
SELECT pid, process_name, process_path, cmdline, runtime, assembly_name, assembly_version, public_key_token,
       mvid, base_address, size
FROM d
WHERE in_memory = 1
  AND pid NOT IN (SELECT pid FROM d WHERE in_memory = 0 AND path != '' AND path = process_path)
  AND lower(process_name) NOT IN ('mono', 'mono-sgen', 'mono.exe', 'dotnet', 'dotnet.exe', 'pwsh', 'pwsh.exe',
                                  'powershell.exe', 'powershell_ise.exe')
