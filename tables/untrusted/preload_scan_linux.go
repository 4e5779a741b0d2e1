package untrusted

import (
	"context"
	"strings"

	"github.com/modhunt/modhunt/tables/inventory"
)

// maxAuxv bounds the read of /proc/PID/auxv: a few dozen pairs of words.
const maxAuxv = 4096

// rtldCommand reads the options of ld.so run as a command ("ld.so
// --preload LIB PROGRAM"): then the process's executable is ld.so itself,
// and its arguments are what it was told to preload. The arguments are
// read whole, as the environment is (execve caps both together).
func (sc *scan) rtldCommand(ctx context.Context, p *inventory.Process) rtldArgs {
	exe := exeModule(p)
	if exe == nil {
		return rtldArgs{}
	}
	info := sc.elfInfo(p.PID, exe)
	if info == nil || info.Interp != "" || !glibcInterp(info.Soname) {
		return rtldArgs{}
	}
	raw, truncated, err := sc.readProcFile(p.PID, "cmdline", maxEnviron)
	if err != nil {
		sc.log.DebugContext(ctx, "cmdline unreadable", "pid", p.PID, "err", err)
		return rtldArgs{}
	}
	if truncated {
		sc.log.DebugContext(ctx, "cmdline cut short", "pid", p.PID, "limit", maxEnviron)
	}
	return parseRtldArgs(strings.Split(strings.TrimSuffix(string(raw), "\x00"), "\x00"))
}

// loaderLists is what the process's loader was told to load first: its
// environment read as ld.so reads it (loaderEnv) and the /etc/ld.so.preload
// of its view, under the process's AT_SECURE, which changes what ld.so
// honours. The environment is the one the process was started with, as
// far as /proc/PID/environ still shows it: the process can overwrite that
// memory after ld.so acted on it, which is why the scan also looks for
// what a preload leaves behind (see startupOnly).
func (sc *scan) loaderLists(ctx context.Context, p *inventory.Process, v *view) (*preloadList, *libDirs, loaderVars) {
	list, libPath := &preloadList{}, &libDirs{}
	env, truncated, err := sc.src.Environ(p.PID, maxEnviron)
	if err != nil {
		sc.log.DebugContext(ctx, "environ unreadable", "pid", p.PID, "err", err)
	}
	if truncated {
		sc.log.DebugContext(ctx, "environ cut short", "pid", p.PID, "limit", maxEnviron)
	}
	vars := loaderEnv(env)
	args := sc.rtldCommand(ctx, p)
	if vars.any() || args.hasPreload || len(args.audit) > 0 || len(v.preload.names) > 0 {
		// Only then does AT_SECURE change a verdict.
		if auxv, _, err := sc.readProcFile(p.PID, "auxv", maxAuxv); err == nil {
			list.secure, _ = atSecure(auxv)
		}
	}
	if vars.hasPreload {
		list.addPreloadEnv(vars.preload)
	}
	if args.hasPreload {
		list.addPreloadEnv(args.preload)
	}
	for _, a := range append(vars.audit, args.audit...) {
		list.addAuditEnv(a)
	}
	// elf/rtld.c process_envvars: LD_LIBRARY_PATH is ignored under
	// AT_SECURE; --library-path, read after it, replaces it.
	switch {
	case args.hasLibraryPath:
		libPath.dirs = libraryPath(args.libraryPath)
	case vars.hasLibraryPath && !list.secure:
		libPath.dirs = libraryPath(vars.libraryPath)
	}
	vars.audit = append(vars.audit, args.audit...)
	if list.cut || v.preload.cut {
		sc.log.DebugContext(ctx, "preload list cut short", "pid", p.PID, "entries", maxPreloadEntries)
	}
	list.paths = append(list.paths, v.preload.paths...)
	list.globs = append(list.globs, v.preload.globs...)
	list.names = append(list.names, v.preload.names...)
	return list, libPath, vars
}
