package attrib

// The kernel feed's programs are C in bpf/exec.c. This regenerates exec_bpfel.go and the
// committed object exec_bpfel.o (Debian: apt-get install clang libbpf-dev linux-libc-dev).
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -target bpfel -cc clang -no-strip=false -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" exec bpf/exec.c

// The file-change feed's programs are C in bpf/file.c (BPF-LSM, CO-RE: no vmlinux.h needed).
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -target bpfel -cc clang -no-strip=false -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" file bpf/file.c
