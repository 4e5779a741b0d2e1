/*
 * bcryptprimitives.dll for Wine 8 (Debian 12), which has none.
 *
 * The runner (test/wine/go_windows_amd64_exec) builds this with mingw and
 * copies it into its private prefix's system32. It does two things, both only
 * for Wine 8's sake; a real Windows never sees this file.
 *
 * 1. ProcessPrng. Go's Windows runtime (1.22+) fills its random source from
 *    bcryptprimitives!ProcessPrng and will not start without it. ProcessPrng is
 *    Windows' user-mode CSPRNG; advapi32!SystemFunction036 (RtlGenRandom) is
 *    Wine's, and both are documented never to fail on valid arguments.
 *
 * 2. NtSetInformationFile's answer for an information class Wine lacks. Real
 *    Windows says STATUS_INVALID_INFO_CLASS; Wine 8 says STATUS_NOT_IMPLEMENTED.
 *    Go 1.25+ deletes files (os.RemoveAll, so every t.TempDir cleanup) with
 *    FileDispositionInformationEx and falls back to the older
 *    FileDispositionInformation only on the Windows answer, so under Wine 8
 *    every removal failed with "Invalid function". Go's runtime loads this DLL
 *    before any Go code runs, so DllMain points ntdll's export of
 *    NtSetInformationFile at a wrapper that translates that one status; Go then
 *    takes the same fallback it takes on Windows 10 1507 or FAT32.
 *
 * No C runtime: the DLL is loaded into every Go process and needs nothing but
 * kernel32, advapi32 and ntdll.
 */
#include <windows.h>
#include <ntsecapi.h>
#include <winternl.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    /* RtlGenRandom takes a ULONG length; ProcessPrng a SIZE_T. */
    while (len > 0) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!RtlGenRandom(data, n))
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}

#define NOT_IMPLEMENTED ((NTSTATUS)0xC0000002L)
#define INVALID_INFO_CLASS ((NTSTATUS)0xC0000003L)

typedef NTSTATUS(NTAPI *set_info_fn)(HANDLE, PIO_STATUS_BLOCK, PVOID, ULONG, ULONG);
static set_info_fn wine_set_info;

static NTSTATUS NTAPI set_info(HANDLE file, PIO_STATUS_BLOCK io, PVOID info, ULONG len, ULONG class)
{
    NTSTATUS status = wine_set_info(file, io, info, len, class);
    return status == NOT_IMPLEMENTED ? INVALID_INFO_CLASS : status;
}

/*
 * An export address table entry is a 32-bit offset from the DLL's base, and
 * our wrapper may be loaded further away than that, so the entry points at a
 * small jump placed within reach above ntdll.
 */
static void *jump_near(BYTE *base, DWORD image_size, void *target)
{
    ULONG_PTR at = ((ULONG_PTR)base + image_size + 0xFFFF) & ~(ULONG_PTR)0xFFFF;
    for (; at + 0x10000 < (ULONG_PTR)base + 0xFFFF0000UL; at += 0x10000) {
        BYTE *p = VirtualAlloc((void *)at, 16, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
        if (!p)
            continue;
        /* jmp qword ptr [rip+0]; dq target */
        p[0] = 0xFF;
        p[1] = 0x25;
        *(DWORD *)(p + 2) = 0;
        *(void **)(p + 6) = target;
        DWORD old;
        if (!VirtualProtect(p, 16, PAGE_EXECUTE_READ, &old)) {
            VirtualFree(p, 0, MEM_RELEASE);
            return NULL;
        }
        FlushInstructionCache(GetCurrentProcess(), p, 16);
        return p;
    }
    return NULL;
}

/* Best effort: if anything is not as expected, ntdll stays untouched. */
static void patch_set_info(void)
{
    BYTE *base = (BYTE *)GetModuleHandleW(L"ntdll.dll");
    if (!base)
        return;
    IMAGE_DOS_HEADER *dos = (IMAGE_DOS_HEADER *)base;
    IMAGE_NT_HEADERS64 *nt = (IMAGE_NT_HEADERS64 *)(base + dos->e_lfanew);
    IMAGE_DATA_DIRECTORY dir = nt->OptionalHeader.DataDirectory[IMAGE_DIRECTORY_ENTRY_EXPORT];
    if (!dir.VirtualAddress)
        return;
    IMAGE_EXPORT_DIRECTORY *exp = (IMAGE_EXPORT_DIRECTORY *)(base + dir.VirtualAddress);
    DWORD *names = (DWORD *)(base + exp->AddressOfNames);
    WORD *ordinals = (WORD *)(base + exp->AddressOfNameOrdinals);
    DWORD *funcs = (DWORD *)(base + exp->AddressOfFunctions);
    for (DWORD i = 0; i < exp->NumberOfNames; i++) {
        if (lstrcmpA((const char *)(base + names[i]), "NtSetInformationFile") != 0)
            continue;
        DWORD *entry = &funcs[ordinals[i]];
        wine_set_info = (set_info_fn)(base + *entry);
        void *jump = jump_near(base, nt->OptionalHeader.SizeOfImage, (void *)set_info);
        DWORD old;
        if (!jump || !VirtualProtect(entry, sizeof *entry, PAGE_READWRITE, &old))
            return;
        *entry = (DWORD)((BYTE *)jump - base);
        VirtualProtect(entry, sizeof *entry, old, &old);
        return;
    }
}

BOOL WINAPI DllMain(HINSTANCE inst, DWORD reason, LPVOID reserved)
{
    (void)inst;
    (void)reserved;
    if (reason == DLL_PROCESS_ATTACH)
        patch_set_info();
    return TRUE;
}
