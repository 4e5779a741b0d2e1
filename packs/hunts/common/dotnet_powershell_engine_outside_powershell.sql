-- name: dotnet_powershell_engine_outside_powershell
-- description: The PowerShell engine (System.Management.Automation, by its metadata) is loaded in a process that is not a PowerShell host.
-- technique: T1059.001, T1620
-- platform: all
-- interval: 3600
-- logging: differential
-- tables: dotnet_assembly_loads
-- why: unmanaged PowerShell (PowerPick, Havoc powerpick, SharpPick, NPS) hosts a runspace inside another
--   program, often a sacrificial rundll32 or WerFault, to dodge the script-block logging and the
--   process-creation telemetry of powershell.exe. The engine is named by its assembly identity, so a
--   renamed copy or one loaded from a byte array (path empty, in_memory 1) is found too. Mirrors
--   PT-CR-644 and PT-CR-1726.
-- false_positives: PowerShell's remoting and diagnostic hosts not listed (wsmprovhost, sdiagnhost are),
--   SQL Server Management Studio, Exchange and System Center consoles, choco, and PowerShell modules hosted
--   by Azure and AWS agents. Allowlist by process_path in the SIEM.
SELECT pid, process_name, process_path, cmdline, runtime, path, assembly_version, public_key_token, in_memory
FROM dotnet_assembly_loads
WHERE assembly_name = 'System.Management.Automation'
  AND lower(process_name) NOT IN ('powershell.exe', 'powershell_ise.exe', 'pwsh', 'pwsh.exe', 'wsmprovhost.exe',
                                  'winrshost.exe', 'sdiagnhost.exe', 'servermanager.exe', 'dsac.exe',
                                  'runscripthelper.exe', 'syncappvpublishingserver.exe', 'ssms.exe', 'sqlps.exe')
