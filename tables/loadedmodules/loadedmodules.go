// Package loadedmodules defines process_loaded_modules: one row per file
// mapped into a process (its shared objects, its main executable, memfd and
// deleted images), the inventory that T1129 hunting starts from.
//
// It renders whatever the platform's inventory returns (an OS joins as in
// docs/ARCHITECTURE.md, "Add an OS").
package loadedmodules

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/modhunt/modhunt/internal/spare"
	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/machofile"
	"github.com/modhunt/modhunt/tables/table"
)

// Name is the table's name.
const Name = "process_loaded_modules"

// Columns in row order.
var Columns = []table.Column{
	{Name: "pid", Type: table.BigInt, Index: true, Description: "Process id. `pid = N` and `pid IN (...)` read only those processes."},
	{Name: "process_name", Type: table.Text, Description: "The process's short name as the kernel keeps it (comm, at most 15 bytes on Linux)."},
	{Name: "process_path", Type: table.Text, Description: "The process's executable as its own mount namespace names it; without \" (deleted)\" when the file really is unlinked."},
	{Name: "cmdline", Type: table.Text, Description: "Command line, arguments joined by spaces, cut to 16 KiB."},
	{Name: "parent", Type: table.BigInt, Description: "Parent process id."},
	{Name: "uid", Type: table.BigInt, Description: "User id procfs gives the process (owner of /proc/PID): its effective uid, or 0 while it is not dumpable (setuid programs, prctl(PR_SET_DUMPABLE, 0)). On macOS the effective uid from proc_bsdinfo. JOIN processes USING (pid) for real and saved ids."},
	{Name: "path", Type: table.Text, Description: "The mapped file's path exactly as the kernel reports it in the process's mount namespace (spaces and non-UTF-8 bytes kept); \" (deleted)\" is removed only when the file really is unlinked (then `deleted` = 1). maps writes a newline as \\012 (and leaves a backslash alone): such a path is given with its real bytes, read through map_files, when they match. A path longer than 1 MiB is cut there. JOIN core tables USING (path)."},
	{Name: "name", Type: table.Text, Description: "Base name of `path`."},
	{Name: "base_address", Type: table.Text, Description: "Lowest start address of the file's mappings, lower-case hex with 0x (e.g. 0x7f3a1c200000)."},
	{Name: "size", Type: table.BigInt, Description: "Sum of the sizes of the file's mappings, in bytes."},
	{Name: "permissions", Type: table.Text, Description: "Union of the mappings' permissions in the kernel's notation (e.g. r-xp; rwxp when some mapping is writable and some executable; s when any is shared)."},
	{Name: "inode", Type: table.BigInt, Description: "Inode of the mapped file, as the kernel reports it."},
	{Name: "device", Type: table.Text, Description: "Device of the mapped file in the kernel's maps notation: hex major:minor, e.g. fd:01."},
	{Name: "deleted", Type: table.Integer, Description: "1 when the mapped file is unlinked: its link count, read on the file itself through map_files, is 0. Never guessed from a \" (deleted)\" suffix a file may really be named with, nor from a path that leads nowhere."},
	{Name: "memfd", Type: table.Integer, Description: "1 when the file is a memfd_create file (path /memfd:NAME): code loaded from memory, never from disk. Decided by the device (the kernel's internal memory mount), not the name: a file anyone names memfd:x is not one. Shared anonymous memory and SysV segments live on that mount too; they are memory, not files, and have no row."},
	{Name: "executable", Type: table.Integer, Description: "1 when some mapping of the file is executable (code really loaded, not just a mapped data file)."},
	{Name: "file_type", Type: table.Text, Description: "What the mapped file's first bytes say it is: elf, pe, macho (the dyld shared cache too), script (#!), data, or unknown (unreadable or not a regular file). Read from the mapped file itself, so it holds for deleted, memfd and other-namespace files."},
	{Name: "user", Type: table.Text, Description: "The process's user: on Linux the host's /etc/passwd name of `uid`; on Windows DOMAIN\\name from the process token (the SID when no name maps to it)."},
	{Name: "integrity_level", Type: table.Text, Description: "Windows: the token's mandatory integrity level (untrusted, low, medium, high, system, protected). Empty elsewhere."},
	{Name: "session_id", Type: table.BigInt, Description: "Windows: the process's Terminal Services session (0: services). Empty elsewhere."},
	{Name: "in_loader_list", Type: table.Integer, Description: "1 when the OS loader's own module list has the module. Windows: the PEB's loader list (Toolhelp); 0 for an image mapped (MEM_IMAGE in VirtualQueryEx) at a base the list has no module at: a DLL unlinked from the list or mapped by hand, the trace manual-mapping and reflective loaders leave. The memory walk stops at 65,536 regions or 2 s: for a process whose walk was cut short (a warn log \"memory view cut short\" names its pid) images above the cut have no row. Linux: 1 for every mapped file but a memfd."},
	{Name: "original_file_name", Type: table.Text, Description: "PE version resource OriginalFileName (Sysmon's OriginalFileName): the name the vendor built the file as; differs from `name` for a renamed copy. Read only for PE files (also PE DLLs a Wine process maps on Linux), once per file identity."},
	{Name: "company", Type: table.Text, Description: "PE version resource CompanyName (Sysmon's Company)."},
	{Name: "product", Type: table.Text, Description: "PE version resource ProductName (Sysmon's Product)."},
	{Name: "description", Type: table.Text, Description: "PE version resource FileDescription (Sysmon's Description)."},
	{Name: "file_version", Type: table.Text, Description: "PE version resource FileVersion string as Sysmon shows it, e.g. 10.0.19041.1 (WinBuild.160101.0800)."},
	{Name: "imphash", Type: table.Text, Description: "Import hash of the PE, pefile's and Sysmon's algorithm (IMPHASH= in Sysmon's Hashes), lower-case hex; empty when it imports nothing."},
	{Name: "is_dotnet", Type: table.Integer, Description: "1 when the PE has a CLR header (a .NET assembly); empty for files that are not PEs."},
	{Name: "signed", Type: table.Integer, Description: "Windows: 1 when the file carries an Authenticode signature, embedded or through a catalog, valid or not (Sysmon's Signed; WinVerifyTrust, no network). macOS: 1 when every slice of the Mach-O file carries a code signature (LC_CODE_SIGNATURE, ad-hoc included), 0 when one does not; whether it is valid is the core `signature` table's to say: JOIN signature USING (path). Empty elsewhere and for other files."},
	{Name: "signature_status", Type: table.Text, Description: "Windows: the signature's verdict in Sysmon's SignatureStatus words: Valid, Expired, Revoked, Unavailable (unsigned); Untrusted (untrusted root or chain), Invalid (bad digest or malformed), Disallowed (local policy)."},
	{Name: "signer", Type: table.Text, Description: "Windows: the signer certificate's subject name (Sysmon's Signature), e.g. Microsoft Windows."},
	{Name: "arch", Type: table.Text, Description: "Mach-O files: the architectures of the file's slices in file order, comma-separated (arm64, arm64e, x86_64, ...; two for a fat file); empty for other files. Read only when the query uses it."},
	{Name: "is_dylib", Type: table.Integer, Description: "Mach-O files: 1 for a dylib or bundle (what dlopen loads), 0 for an executable; empty for other files. Read only when the query uses it."},
}

// Examples are hunt queries, in the order the documentation lists them.
var Examples = []string{
	// Code running from files that are gone from disk (T1070.004 after T1129).
	"SELECT pid, process_name, process_path, path, cmdline FROM process_loaded_modules WHERE deleted = 1 AND executable = 1;",
	// Fileless loads: code mapped from memfd_create files (shared-memory
	// buffers such as /memfd:wayland-shm are memfds too, but not executable;
	// JITs that double-map code, e.g. /memfd:doublemapper, are the usual
	// benign hits).
	"SELECT pid, process_name, process_path, path, file_type, cmdline FROM process_loaded_modules WHERE memfd = 1 AND executable = 1;",
	// Modules loaded from world-writable staging directories.
	"SELECT pid, process_name, path FROM process_loaded_modules WHERE executable = 1 AND (path LIKE '/tmp/%' OR path LIKE '/var/tmp/%' OR path LIKE '/dev/shm/%' OR path LIKE '/run/user/%');",
	// Executable mappings of files that are not ELF.
	"SELECT pid, process_name, path, file_type FROM process_loaded_modules WHERE executable = 1 AND file_type NOT IN ('elf');",
	// Rare modules across the host: loaded by only one process.
	"SELECT path, COUNT(DISTINCT pid) AS processes FROM process_loaded_modules WHERE executable = 1 GROUP BY path HAVING processes = 1 ORDER BY path;",
	// Hash the modules of one process (pid pushdown keeps it cheap).
	"SELECT m.pid, m.path, h.sha256 FROM process_loaded_modules AS m JOIN hash AS h USING (path) WHERE m.pid = 1 AND m.deleted = 0;",
	// Modules whose file is writable by non-root users.
	"SELECT m.pid, m.process_name, m.path, f.uid, f.mode FROM process_loaded_modules AS m JOIN file AS f USING (path) WHERE m.executable = 1 AND (f.uid != 0 OR f.mode LIKE '%2' OR f.mode LIKE '%6' OR f.mode LIKE '%7');",
	// macOS: dylibs without a code signature, with what the core signature
	// table says of the file (the Mach-O columns are read only when used).
	"SELECT m.pid, m.process_name, m.path, m.arch, s.signed AS signature_valid, s.team_identifier FROM process_loaded_modules AS m LEFT JOIN signature AS s USING (path) WHERE m.file_type = 'macho' AND m.is_dylib = 1 AND m.signed = 0;",
	// Every module of the SSH daemons.
	"SELECT pid, path, base_address, permissions FROM process_loaded_modules WHERE pid IN (SELECT pid FROM processes WHERE name = 'sshd');",
	// Windows: images mapped outside the loader list (unlinked, manually
	// mapped or reflectively loaded DLLs).
	"SELECT pid, process_name, path, base_address, size FROM process_loaded_modules WHERE in_loader_list = 0 AND file_type = 'pe';",
	// Windows: a renamed copy of a system DLL (comsvcs.dll under another
	// name, T1036.003).
	"SELECT pid, process_name, path, original_file_name FROM process_loaded_modules WHERE original_file_name != '' AND lower(name) != lower(original_file_name) AND company LIKE 'Microsoft%';",
	// Windows: unsigned or badly signed DLLs in signed processes' hands.
	"SELECT pid, process_name, path, signature_status, signer, imphash FROM process_loaded_modules WHERE file_type = 'pe' AND signature_status NOT IN ('Valid', '');",
}

// Description is the table's one-paragraph summary.
const Description = "Files mapped into running processes, one row per process and distinct file (device, inode, path): shared objects, the main executable, memfd and deleted images. Paths are the process's own view, byte for byte; deletion and file type are read from the mapped file itself."

// Spec is the table's definition.
var Spec = table.Spec{
	Name:        Name,
	Description: Description,
	Platforms:   []string{table.Linux, table.Windows, table.Darwin},
	Columns:     Columns,
	Examples:    Examples,
}

// New returns the table over d.Inventory (tests inject a procfs root or a
// read hook through it), or over a new inventory of this host.
func New(d deps.Deps) (*table.Table, error) {
	inv, log := d.ModuleInventory(), d.Logger()
	return &table.Table{
		Spec: Spec,
		Generate: func(ctx context.Context, q table.Query) ([]table.Row, error) {
			var rows []table.Row
			err := scan(ctx, inv, log, q, false, func(batch []table.Row) error {
				rows = append(rows, batch...)
				return nil
			})
			return rows, err
		},
		Stream: func(ctx context.Context, q table.Query, emit func([]table.Row) error) error {
			return scan(ctx, inv, log, q, true, emit)
		},
	}, nil
}

// scan hands emit each process's rows, in one slice that the next process
// reuses. With reuse the rows' cells are the next process's too (Stream);
// without, each row keeps its own (Generate copies the rows out).
func scan(ctx context.Context, inv inventory.Source, log *slog.Logger, q table.Query, reuse bool, emit func([]table.Row) error) error {
	pids := q.PIDs()
	if pids != nil && len(pids) == 0 {
		return nil
	}
	used := usedColumns(q)
	var batch []table.Row
	var store *rowStore
	if reuse {
		if store = stores.Get(); store == nil {
			store = &rowStore{}
		}
		defer func() {
			if cap(store.cells) <= maxSpareCells {
				clear(store.cells) // pins no path past the scan
				stores.Put(store)
			}
		}()
	}
	rows := 0
	facts := newImageFacts(inv, q)
	macho := q.UsesAny("arch", "is_dylib", "signed")
	err := inv.WalkDetail(ctx, pids, detail(q), func(p *inventory.Process) error {
		batch = appendRowsInto(batch[:0], store, p, used)
		if len(batch) == 0 {
			return nil
		}
		facts.fill(ctx, log, p, batch)
		if macho {
			addMachO(batch, inv, p)
		}
		rows += len(batch)
		return emit(batch)
	})
	if err != nil {
		log.DebugContext(ctx, "module walk stopped", "err", err, "rows", rows)
	}
	return err
}

// detail is what the inventory must read for the columns q reads: the maps
// alone give pid and every module column but file_type.
func detail(q table.Query) inventory.Detail {
	var d inventory.Detail
	if q.UsesAny("process_name", "parent") {
		d |= inventory.DetailStat
	}
	if q.Uses("cmdline") {
		d |= inventory.DetailCmdline
	}
	if q.Uses("process_path") {
		d |= inventory.DetailExe
	}
	if q.UsesAny("file_type", "arch", "is_dylib") || q.UsesAny(peColumns...) || q.UsesAny(signatureColumns...) {
		// The PE and Mach-O facts are read only for files of their type.
		d |= inventory.DetailFileType
	}
	if q.UsesAny("uid", "user", "integrity_level", "session_id") {
		d |= inventory.DetailUser
	}
	return d
}

// Column positions, in Columns' order.
const (
	colPID = iota
	colProcessName
	colProcessPath
	colCmdline
	colParent
	colUID
	colPath
	colName
	colBase
	colSize
	colPerms
	colInode
	colDevice
	colDeleted
	colMemfd
	colExecutable
	colFileType
	colUser
	colIntegrity
	colSession
	colInLoaderList
	colOriginalFileName
	colCompany
	colProduct
	colDescription
	colFileVersion
	colImphash
	colIsDotNet
	colSigned
	colSignatureStatus
	colSigner
	colArch
	colIsDylib
)

// usedColumns is q's used columns by position; nil means all.
func usedColumns(q table.Query) []bool {
	if q.Used == nil {
		return nil
	}
	used := make([]bool, len(Columns))
	for i, c := range Columns {
		used[i] = q.Uses(c.Name)
	}
	return used
}

// AppendRows renders p's modules as rows in column order. One backing
// array holds all of a process's cells and one string all of its numbers,
// so a process costs a few allocations, not a few per module.
func AppendRows(rows []table.Row, p *inventory.Process) []table.Row {
	return appendRows(rows, p, nil)
}

// appendRows is AppendRows formatting only the numbers of the columns used
// marks (nil: all); the other number cells stay empty.
func appendRows(rows []table.Row, p *inventory.Process, used []bool) []table.Row {
	return appendRowsInto(rows, nil, p, used)
}

// rowStore is the storage a stream's batches share: each batch's cells and
// number scratch go where the last one's were.
type rowStore struct {
	cells []string
	buf   []byte
	ends  []int
}

// stores keeps the storage of one stream for the next: a batch's cells are
// as many as its process's modules, and a scan meets its largest process
// only somewhere along the way.
var stores spare.One[rowStore]

// maxSpareCells bounds the cells kept for the next scan (1 MiB): a process
// with tens of thousands of modules must not pin its batch's size.
const maxSpareCells = 1 << 16

// appendRowsInto is appendRows with the storage of store (nil: new).
func appendRowsInto(rows []table.Row, store *rowStore, p *inventory.Process, used []bool) []table.Row {
	if len(p.Modules) == 0 {
		return rows
	}
	if store == nil {
		store = &rowStore{}
	}
	want := func(col int) bool { return used == nil || used[col] }
	base, size, inode := want(colBase), want(colSize), want(colInode)
	n := len(Columns)
	cells := store.cells
	if need := n * len(p.Modules); cap(cells) >= need {
		// The fact columns are set only for some rows: nothing of the
		// last batch may show through.
		cells = cells[:need]
		clear(cells)
	} else {
		cells = make([]string, need)
	}
	// Numbers first go to one buffer; offsets mark where each ends.
	perModule := 0
	for _, w := range []bool{base, size, inode} {
		if w {
			perModule += 24
		}
	}
	buf := slices.Grow(store.buf[:0], 32+len(p.Modules)*perModule)
	buf = strconv.AppendInt(buf, int64(p.PID), 10)
	pidEnd := len(buf)
	if want(colParent) {
		buf = strconv.AppendInt(buf, int64(p.PPID), 10)
	}
	parentEnd := len(buf)
	if p.UID >= 0 && want(colUID) {
		buf = strconv.AppendInt(buf, p.UID, 10)
	}
	uidEnd := len(buf)
	session := ""
	if p.Windows.Integrity != "" && want(colSession) {
		session = strconv.FormatUint(uint64(p.Windows.Session), 10)
	}
	ends := slices.Grow(store.ends[:0], 3*len(p.Modules))
	for i := range p.Modules {
		m := &p.Modules[i]
		if base {
			buf = append(buf, "0x"...)
			buf = strconv.AppendUint(buf, m.Base, 16)
		}
		ends = append(ends, len(buf))
		if size {
			buf = strconv.AppendUint(buf, m.Size, 10)
		}
		ends = append(ends, len(buf))
		if inode {
			buf = strconv.AppendUint(buf, m.Linux.Inode, 10)
		}
		ends = append(ends, len(buf))
	}
	store.cells, store.buf, store.ends = cells, buf, ends
	nums := string(buf)
	pid, parent, uid := nums[:pidEnd], nums[pidEnd:parentEnd], nums[parentEnd:uidEnd]
	at := uidEnd
	for i := range p.Modules {
		m := &p.Modules[i]
		r := cells[i*n : (i+1)*n : (i+1)*n]
		e := ends[3*i : 3*i+3]
		r[colPID], r[colParent], r[colUID] = pid, parent, uid
		r[colBase], r[colSize], r[colInode] = nums[at:e[0]], nums[e[0]:e[1]], nums[e[1]:e[2]]
		at = e[2]
		// Strings cost nothing to place; those whose reads were skipped
		// are empty.
		r[colProcessName], r[colProcessPath], r[colCmdline] = p.Name, p.Path, p.Cmdline
		r[colPath], r[colName], r[colPerms], r[colDevice] = m.Path, m.Name, m.Linux.Perms, m.Linux.Device
		r[colDeleted], r[colMemfd], r[colExecutable] = table.Bool(m.Deleted), table.Bool(m.Memfd), table.Bool(m.Executable)
		r[colFileType] = string(m.FileType)
		r[colUser], r[colIntegrity], r[colSession] = p.User, p.Windows.Integrity, session
		r[colInLoaderList] = table.Bool(m.InLoaderList)
		rows = append(rows, table.Row(r))
	}
	return rows
}

// addMachO fills the Mach-O columns of p's rows (one per module, in order),
// from each file's facts (cached by file identity). A module that cannot be
// read keeps them empty.
func addMachO(rows []table.Row, inv inventory.Source, p *inventory.Process) {
	for i := range p.Modules {
		m := &p.Modules[i]
		if m.FileType != inventory.FileMachO {
			continue
		}
		info, err := machofile.Of(inv, p.PID, m)
		if err != nil || info.Facts == nil {
			continue
		}
		r := rows[i]
		r[colArch] = strings.Join(info.Facts.Arches(), ",")
		r[colIsDylib] = table.Bool(info.Facts.IsDylib())
		r[colSigned] = table.Bool(info.Facts.Signed())
	}
}
