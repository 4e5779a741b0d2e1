package winproc

import (
	"context"
	"os"
	"testing"
	"unsafe"

	"github.com/shirou/gopsutil/v4/process"
	"golang.org/x/sys/windows"
)

// BenchmarkCommandLine compares reading another process's command line
// here with gopsutil v4's Cmdline, in the same run (the issue: use gopsutil's
// way if it is not slower). Both read the same child. On Windows 8.1+ this
// package answers from one NtQueryInformationProcess(ProcessCommandLineInformation);
// Wine 8 lacks that class, so under Wine both read the PEB.
func BenchmarkCommandLine(b *testing.B) {
	dir := os.Getenv("MODHUNT_WINE_FIXTURES")
	if dir == "" {
		b.Skip("MODHUNT_WINE_FIXTURES is not set")
	}
	pid, _ := start(b, "loadlib.exe", "loaded", dropDLL(b, "payload.dll", "modhunt_bench.dll"))

	b.Run("winproc", func(b *testing.B) {
		for b.Loop() {
			h, err := openProcess(pid, windows.PROCESS_QUERY_LIMITED_INFORMATION)
			if err != nil {
				b.Fatal(err)
			}
			var pbi windows.PROCESS_BASIC_INFORMATION
			if err := windows.NtQueryInformationProcess(h, windows.ProcessBasicInformation, unsafe.Pointer(&pbi), uint32(unsafe.Sizeof(pbi)), nil); err != nil {
				b.Fatal(err)
			}
			cl, err := commandLine(h)
			if err != nil {
				cl, err = commandLineFromPEB(pid, uintptr(unsafe.Pointer(pbi.PebBaseAddress)))
			}
			_ = windows.CloseHandle(h)
			if err != nil || cl == "" {
				b.Fatalf("%q, %v", cl, err)
			}
		}
	})
	b.Run("gopsutil", func(b *testing.B) {
		for b.Loop() {
			p, err := process.NewProcess(int32(pid))
			if err != nil {
				b.Fatal(err)
			}
			cl, err := p.CmdlineWithContext(context.Background())
			if err != nil || cl == "" {
				b.Fatalf("%q, %v", cl, err)
			}
		}
	})
}
