// SPDX-License-Identifier: GPL-2.0
//
// The kernel feed of tripline's exec cache: who executed what, captured in the acting task's own
// context, so a chmod that lives a millisecond is still named with its executable and arguments.
//
// Four programs on stable tracepoints, none of which needs BTF:
//   syscalls:sys_enter_execve / sys_enter_execveat  the requested file name and argv (bounded)
//   sched:sched_process_exec                        the exec succeeded (for which thread)
//   sched:sched_process_fork                        the parent link
//   sched:sched_process_exit                        the process is gone
// Everything goes to one ring buffer; a record that does not fit is counted in `drops`, which
// user space reads and reports like a lost event.
//
// Tracepoint field offsets differ between kernels (sched_process_fork's comm became a __data_loc
// in 6.x, moving child_pid from 44 to 20). User space reads them from tracefs's format files and
// writes them into the constants below before loading; the verifier sees them as constants.
//
// Regenerate the Go bindings and the object with `go generate ./attrib` (needs clang; the object
// is committed, so building tripline does not).

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define FILENAME_MAX_LEN 512
#define ARGS_MAX_LEN 4096
#define ARG_MAX_LEN 1024
#define ARGS_MAX 64

enum kind {
	KIND_EXEC_ENTER = 1,
	KIND_EXEC = 2,
	KIND_FORK = 3,
	KIND_EXIT = 4,
};

// Flags of a record.
#define FLAG_FILENAME_TRUNCATED 1
#define FLAG_ARGS_TRUNCATED 2
#define FLAG_ARGS_FAULT 4
#define FLAG_TASK 8      // ppid, euid and egid were read from the task
#define FLAG_LOGINUID 16 // loginuid and sessionid were read from the task

// The head of every record.
struct head {
	__u32 kind;
	__u32 pid;   // thread group id (the process)
	__u32 tid;   // the thread; for exec, the thread that called it (old_pid)
	__u32 other; // fork: the child's tid
	__u32 uid;   // real
	__u32 gid;
	__u32 euid;
	__u32 egid;
	__u32 ppid;
	__u32 loginuid;
	__u32 sessionid;
	__u32 flags;
	__u64 boot_ns; // CLOCK_BOOTTIME, the clock of /proc/PID/stat's start time
	char comm[16];
};

struct exec_enter {
	struct head h;
	__u32 filename_len;
	__u32 args_len; // bytes of args used: NUL-terminated strings back to back
	__u32 argc;     // strings in args
	__u32 pad;
	char filename[FILENAME_MAX_LEN];
	char args[ARGS_MAX_LEN];
};

// Set by user space from /sys/kernel/tracing/events/*/*/format before loading.
volatile const __u32 enter_execve_filename_off = 16;
volatile const __u32 enter_execve_argv_off = 24;
volatile const __u32 enter_execveat_filename_off = 24;
volatile const __u32 enter_execveat_argv_off = 32;
volatile const __u32 exec_old_pid_off = 16;
volatile const __u32 fork_child_pid_off = 20;

// Offsets into struct task_struct and struct cred, from the kernel's BTF when it has one
// (/sys/kernel/btf/vmlinux); 0 when unknown, and then the fields are not read.
volatile const __u32 task_real_parent_off = 0;
volatile const __u32 task_tgid_off = 0;
volatile const __u32 task_cred_off = 0;
volatile const __u32 cred_euid_off = 0;
volatile const __u32 cred_egid_off = 0;
volatile const __u32 task_loginuid_off = 0;
volatile const __u32 task_sessionid_off = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

// drops[0] counts records the ring buffer had no room for.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

static __always_inline void dropped(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&drops, &zero);
	if (n)
		*n += 1;
}

// Records are submitted without waking user space: it drains the ring when it resolves an event
// (a flush) and when the ring is a quarter full, which forces a wakeup. A wakeup per record cost a
// scheduler round trip per fork, exec and exit; a periodic drain, a wakeup of an idle daemon.
static __always_inline __u64 wakeup(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > (1 << 20) ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline void *kptr(void *base, __u32 off)
{
	void *v = 0;
	bpf_probe_read_kernel(&v, sizeof(v), (char *)base + off);
	return v;
}

static __always_inline __u32 ku32(void *base, __u32 off)
{
	__u32 v = 0;
	bpf_probe_read_kernel(&v, sizeof(v), (char *)base + off);
	return v;
}

// head fills what every record carries, from the current task.
static __always_inline void head(struct head *h, __u32 kind)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 ug = bpf_get_current_uid_gid();
	h->kind = kind;
	h->pid = id >> 32;
	h->tid = (__u32)id;
	h->other = 0;
	h->uid = (__u32)ug;
	h->gid = ug >> 32;
	h->euid = 0;
	h->egid = 0;
	h->ppid = 0;
	h->loginuid = 0;
	h->sessionid = 0;
	h->flags = 0;
	h->boot_ns = bpf_ktime_get_boot_ns();
	bpf_get_current_comm(h->comm, sizeof(h->comm));
	if (task_real_parent_off && task_tgid_off && task_cred_off) {
		void *task = (void *)bpf_get_current_task();
		void *parent = kptr(task, task_real_parent_off);
		void *cred = kptr(task, task_cred_off);
		if (parent && cred) {
			h->ppid = ku32(parent, task_tgid_off);
			h->euid = ku32(cred, cred_euid_off);
			h->egid = ku32(cred, cred_egid_off);
			h->flags |= FLAG_TASK;
		}
		if (task_loginuid_off && task_sessionid_off) {
			h->loginuid = ku32(task, task_loginuid_off);
			h->sessionid = ku32(task, task_sessionid_off);
			h->flags |= FLAG_LOGINUID;
		}
	}
}

static __always_inline int enter(void *ctx, __u32 filename_off, __u32 argv_off)
{
	struct exec_enter *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		dropped();
		return 0;
	}
	head(&e->h, KIND_EXEC_ENTER);

	const char *filename = kptr(ctx, filename_off);
	long n = bpf_probe_read_user_str(e->filename, sizeof(e->filename), filename);
	if (n < 0) {
		n = 0;
		e->filename[0] = 0;
	}
	if (n == sizeof(e->filename))
		e->h.flags |= FLAG_FILENAME_TRUNCATED;
	e->filename_len = n;

	const char *const *argv = kptr(ctx, argv_off);
	__u32 off = 0, argc = 0;
	for (int i = 0; i < ARGS_MAX; i++) {
		const char *arg = 0;
		if (bpf_probe_read_user(&arg, sizeof(arg), &argv[i]) < 0) {
			e->h.flags |= FLAG_ARGS_FAULT;
			break;
		}
		if (!arg)
			goto done;
		if (off > ARGS_MAX_LEN - ARG_MAX_LEN) {
			e->h.flags |= FLAG_ARGS_TRUNCATED;
			goto done;
		}
		long m = bpf_probe_read_user_str(&e->args[off], ARG_MAX_LEN, arg);
		if (m <= 0) {
			e->h.flags |= FLAG_ARGS_FAULT;
			goto done;
		}
		if (m == ARG_MAX_LEN) {
			// Cut, unless the argument is exactly ARG_MAX_LEN-1 bytes long.
			char last = 1;
			bpf_probe_read_user(&last, 1, arg + ARG_MAX_LEN - 1);
			if (last)
				e->h.flags |= FLAG_ARGS_TRUNCATED;
		}
		off += m;
		argc++;
	}
	// ARGS_MAX arguments were read: more follow unless the next pointer is NULL.
	{
		const char *next = 0;
		if (bpf_probe_read_user(&next, sizeof(next), &argv[ARGS_MAX]) < 0 || next)
			e->h.flags |= FLAG_ARGS_TRUNCATED;
	}
done:
	e->args_len = off;
	e->argc = argc;
	bpf_ringbuf_submit(e, wakeup());
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int enter_execve(void *ctx)
{
	return enter(ctx, enter_execve_filename_off, enter_execve_argv_off);
}

SEC("tracepoint/syscalls/sys_enter_execveat")
int enter_execveat(void *ctx)
{
	return enter(ctx, enter_execveat_filename_off, enter_execveat_argv_off);
}

static __always_inline int small(__u32 kind, __u32 tid, __u32 other)
{
	struct head *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		dropped();
		return 0;
	}
	head(e, kind);
	if (tid)
		e->tid = tid;
	e->other = other;
	bpf_ringbuf_submit(e, wakeup());
	return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int sched_exec(void *ctx)
{
	return small(KIND_EXEC, ku32(ctx, exec_old_pid_off), 0);
}

SEC("tracepoint/sched/sched_process_fork")
int sched_fork(void *ctx)
{
	return small(KIND_FORK, 0, ku32(ctx, fork_child_pid_off));
}

// Every thread's exit is reported: sched_process_fork fires for threads too, and user space
// drops the entry a thread's clone made when the thread exits (tid != pid).
SEC("tracepoint/sched/sched_process_exit")
int sched_exit(void *ctx)
{
	return small(KIND_EXIT, 0, 0);
}
