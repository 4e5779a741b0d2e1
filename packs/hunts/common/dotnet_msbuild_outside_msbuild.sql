-- name: dotnet_msbuild_outside_msbuild
-- description: A Microsoft.Build assembly (by its metadata) is loaded in a process that is not MSBuild or a build tool.
-- technique: T1127.001, T1620
-- platform: all
-- interval: 3600
-- logging: differential
-- tables: dotnet_assembly_loads
-- why: MSBuild inline tasks compile and run attacker C# inside a trusted binary; loaders that drive the
--   same machinery from their own process (or from a byte array) carry Microsoft.Build.Tasks and
--   Microsoft.Build.Framework with them. The assembly is named by its identity, not its file name, so a
--   copy renamed to update.dll is found too. Mirrors PT-CR-646.
-- false_positives: IDEs and their helpers (devenv, Rider, VS Code's C# extension, OmniSharp), NuGet and
--   dotnet CLI tools, CI agents running builds under their own name. Allowlist by process_path in the SIEM.
SELECT pid, process_name, process_path, cmdline, runtime, path, assembly_name, assembly_version, public_key_token,
       in_memory
FROM dotnet_assembly_loads
WHERE assembly_name LIKE 'Microsoft.Build%'
  AND lower(process_name) NOT IN ('msbuild.exe', 'msbuild', 'msbuildtaskhost.exe', 'dotnet', 'dotnet.exe',
                                  'devenv.exe', 'vbcscompiler.exe', 'rider64.exe', 'omnisharp', 'omnisharp.exe',
                                  'servicehub.host.clr.x86.exe', 'servicehub.host.clr.x64.exe',
                                  'servicehub.host.netfx.x64.exe', 'mono', 'mono-sgen')
