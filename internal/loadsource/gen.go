package loadsource

// The BPF object and its Go loader are generated and committed, so building
// modhunt needs no clang. `make bpf` regenerates them; CI regenerates into a
// temporary directory and fails when the committed files differ. clang-14 is
// pinned by name because another clang emits a different (equally valid)
// object; bpf2go already strips DWARF, the clang version string and the
// source directory, so the output depends only on the compiler and the source.
//
// One little-endian object serves amd64 and arm64 (and every other bpfel
// architecture): the program uses no architecture-specific register layout.
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang-14 -strip llvm-strip-14 -cflags "-O2 -mcpu=v3 -Wall -Werror -Wno-unused-function" -tags linux -target bpfel -go-package loadsource -output-dir=$BPF2GO_OUTPUT_DIR loadsource bpf/loadsource.bpf.c
