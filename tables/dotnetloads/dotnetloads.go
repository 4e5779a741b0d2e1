// Package dotnetloads defines dotnet_assembly_loads: every .NET assembly
// loaded in every CLR host (CoreCLR, Mono, the .NET Framework CLR), from a
// file, from a global assembly cache, or only in memory
// (Assembly.Load(byte[])), identified by its own metadata and never by a
// file name.
//
// It is OS-neutral: a process is a CLR host by the names of its loaded
// modules (Runtime), file-mapped assemblies come from the module list and
// are read through the inventory's OpenModule (on Linux the very mapped
// file, through /proc/PID/map_files), and in-memory ones from a bounded
// search of the host's private and anonymous memory through OpenMemory
// (Limits). Identity parsing is internal/pefacts', cached per file
// identity in the file-facts layer. See README.md.
package dotnetloads

import (
	"context"
	"strconv"

	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/table"
)

// Name is the table's name.
const Name = "dotnet_assembly_loads"

// Description is the table's one-paragraph summary.
const Description = "Every .NET assembly loaded in every CLR host (the .NET Framework CLR, CoreCLR, Mono), " +
	"one row per (process, assembly): mapped from a file, from a global assembly cache, or present only in memory " +
	"(Assembly.Load(byte[]), execute-assembly). Identity (name, version, culture, public key token, MVID) comes from the " +
	"assembly's own CLI metadata, never from its file name. Processes without a CLR runtime module are skipped before any of their memory is read."

// Columns in row order.
var Columns = []table.Column{
	{Name: "pid", Type: table.BigInt, Index: true, Description: "Process id. `pid = N` and `pid IN (...)` read only those processes."},
	{Name: "process_name", Type: table.Text, Description: "The process's short name (comm on Linux)."},
	{Name: "process_path", Type: table.Text, Description: "The process's executable."},
	{Name: "cmdline", Type: table.Text, Description: "Command line, arguments joined by spaces, cut to 16 KiB."},
	{Name: "runtime", Type: table.Text, Description: "The CLR the process hosts, from the runtime modules it has loaded: coreclr (libcoreclr.so, coreclr.dll), mono (the mono executable, libmono*.so, mono-2.0-*.dll), clr4 (clr.dll), clr2 (mscorwks.dll), or mscoree when only the shim (mscoree.dll) is loaded. The newest wins when several are."},
	{Name: "path", Type: table.Text, Description: "The file the assembly is mapped from, as process_loaded_modules' path; empty for an assembly that exists only in memory."},
	{Name: "assembly_name", Type: table.Text, Description: "The assembly's simple name from its Assembly table (System.Management.Automation), whatever the file is called."},
	{Name: "assembly_version", Type: table.Text, Description: "The assembly's version, major.minor.build.revision."},
	{Name: "culture", Type: table.Text, Description: "The assembly's culture; empty for culture-neutral."},
	{Name: "public_key_token", Type: table.Text, Description: "Public key token (last 8 bytes of the public key's SHA-1, reversed), 16 lower-case hex digits; empty when the assembly is unsigned."},
	{Name: "mvid", Type: table.Text, Description: "The manifest module's version id (a GUID, lower case): it names one build of an assembly, so it identifies an in-memory assembly across hosts."},
	{Name: "gac", Type: table.Integer, Description: "1 when the file is in a global assembly cache: Windows' C:\\Windows\\assembly\\GAC* and C:\\Windows\\Microsoft.NET\\assembly\\GAC_*, Mono's lib/mono/gac/."},
	{Name: "native_image", Type: table.Integer, Description: "1 for an NGen native image: a .ni.dll/.ni.exe, or a file under C:\\Windows\\assembly\\NativeImages_*."},
	{Name: "in_memory", Type: table.Integer, Description: "1 for an assembly found in the process's private or anonymous memory and mapped from no file (Assembly.Load(byte[])); an assembly also mapped from a file in the same process (same MVID) is reported only as that file."},
	{Name: "base_address", Type: table.Text, Description: "Lower-case hex with 0x: the file's lowest mapping, or where the in-memory copy starts (its MZ header, else its metadata root)."},
	{Name: "size", Type: table.BigInt, Description: "Bytes: the file's mappings, or the in-memory copy's extent (SizeOfImage, the end of its last section's data, or the metadata root and its streams)."},
}

// Examples are hunt queries, in the order the documentation lists them.
var Examples = []string{
	// execute-assembly and reflective loaders: assemblies with no file.
	"SELECT pid, process_name, runtime, assembly_name, assembly_version, mvid, base_address FROM dotnet_assembly_loads WHERE in_memory = 1;",
	// The PowerShell engine outside PowerShell (PT-CR-644).
	"SELECT pid, process_path, path, assembly_version FROM dotnet_assembly_loads WHERE assembly_name = 'System.Management.Automation' AND process_name NOT IN ('powershell.exe', 'pwsh.exe', 'pwsh');",
	// MSBuild machinery outside MSBuild (PT-CR-646).
	"SELECT pid, process_path, assembly_name, path FROM dotnet_assembly_loads WHERE assembly_name LIKE 'Microsoft.Build%' AND process_name NOT IN ('MSBuild.exe', 'dotnet', 'dotnet.exe');",
	// The same in-memory assembly in several processes (one build, by MVID).
	"SELECT mvid, assembly_name, COUNT(DISTINCT pid) AS hosts FROM dotnet_assembly_loads WHERE in_memory = 1 GROUP BY mvid ORDER BY hosts DESC;",
	// A renamed file: its metadata names another assembly.
	"SELECT pid, path, assembly_name FROM dotnet_assembly_loads WHERE path != '' AND path NOT LIKE '%' || assembly_name || '.%';",
	// Everything one process has loaded (pid pushdown keeps it cheap).
	"SELECT assembly_name, assembly_version, public_key_token, gac, in_memory, path FROM dotnet_assembly_loads WHERE pid = 1234;",
}

// Spec is the table's definition. Windows is served through the Windows
// inventory (loader list, image mappings, ReadProcessMemory); under Wine it
// is proved on a native process shaped like a CLR host, since no managed
// code runs there (wine_windows_test.go).
var Spec = table.Spec{
	Name:        Name,
	Description: Description,
	Platforms:   []string{table.Linux, table.Windows},
	Columns:     Columns,
	Examples:    Examples,
}

// New returns the table over d's inventory.
func New(d deps.Deps) (*table.Table, error) {
	s := &Scanner{Inventory: d.ModuleInventory(), Log: d.Logger()}
	return NewWith(s), nil
}

// NewWith returns the table over s (tests set its limits and hooks).
func NewWith(s *Scanner) *table.Table {
	return &table.Table{
		Spec: Spec,
		Generate: func(ctx context.Context, q table.Query) ([]table.Row, error) {
			return generate(ctx, s, q)
		},
	}
}

func generate(ctx context.Context, s *Scanner, q table.Query) ([]table.Row, error) {
	var rows []table.Row
	st, err := s.Scan(ctx, q.PIDs(), detail(q), true, func(h *Host, l *Load) error {
		a := &l.Assembly
		rows = append(rows, table.Row{
			table.Int(h.PID), h.Name, h.Path, h.Cmdline, h.Runtime, l.Path,
			a.Name, a.Version, a.Culture, a.PublicKeyToken, a.MVID,
			table.Bool(l.GAC), table.Bool(l.NativeImage), table.Bool(l.InMemory),
			"0x" + strconv.FormatUint(l.Base, 16), table.Int(l.Size),
		})
		return nil
	})
	if s.Log != nil {
		s.Log.DebugContext(ctx, "assembly scan", "processes", st.Processes, "hosts", st.Hosts,
			"regions", st.Regions, "bytes", st.BytesRead, "cut", st.Cut)
	}
	return rows, err
}

// detail is what the second walk reads of each CLR host for the columns q
// reads.
func detail(q table.Query) inventory.Detail {
	var d inventory.Detail
	if q.Uses("process_name") {
		d |= inventory.DetailStat
	}
	if q.Uses("cmdline") {
		d |= inventory.DetailCmdline
	}
	if q.Uses("process_path") {
		d |= inventory.DetailExe
	}
	return d
}
