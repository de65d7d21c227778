// SPDX-License-Identifier: GPL-2.0
//
// The file-change feed: the kernel's record of each call that changes a file in (or below) a
// watched directory, made at syscall entry in the calling task's own context, so the daemon knows
// which process made which change even when fanotify merges two changes into one event or the
// file is gone before it can be stat'ed.
//
// Hooks: the syscalls:sys_enter_* tracepoints of the calls that change files (chmod, chown,
// utimes, open for writing or creating, truncate, mknod, mkdir, rmdir, unlink, link, symlink,
// rename, the xattr calls, mount, move_mount). These need no BTF and no ftrace: kernels that
// refuse fentry and BPF-LSM programs (as the one tripline was built on does: EPERM at load) still
// run them. CO-RE (BTF) is used to read the task's working directory and file table.
//
// Filter, in the kernel, before anything is reserved in the ring buffer:
//   - a call on a file descriptor (fchmod, futimens, ftruncate...): the file's parent directory
//     and its ancestors are looked up in `dirs` by (device, inode);
//   - an absolute path: looked up in `prefixes`, an LPM trie of the watched directories' paths;
//   - a relative path: its base directory (the working directory, or the dirfd) and its
//     ancestors in `dirs`, with the levels the path adds; a base that is an ancestor of a watched
//     directory when the path has a slash; a path with ".." or "//" always.
// A directory in `dirs` says how many levels below it count, so a file written into a directory
// made a microsecond before, below a watched one, is recorded.
//
// Regenerate with `go generate ./attrib` (needs clang and libbpf-dev; the object is committed).

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

#define RING_SIZE (4 << 20)
#define RING_QUARTER (RING_SIZE / 4) // a ring this full wakes the reader whatever it holds
#define PATH_LEN 256  // a path argument (longer ones are cut: F_PATH1_CUT, F_PATH2_CUT)
#define COMP_MAX 24   // components of a walked path
#define COMP_LEN 64   // bytes per component (longer: the walk is incomplete)
#define MAX_LEVEL 8   // ancestors looked up
#define EXTRA_LEN 32  // user memory an argument points to (utimensat's times, openat2's how)
#define AT_FDCWD_ -100

// Flags of a record.
#define F_CWD 1         // cwd holds the working directory, complete
#define F_BASE 2        // base holds the path of the fd (fd calls) or of the dirfd, complete
#define F_PATH1_CUT 4   // path1 was longer than PATH_LEN
#define F_PATH2_CUT 8
#define F_FD 16         // the call named a file by descriptor: file/parent are that file's
#define F_EXTRA 32      // extra holds the user memory args[extra_arg] points to

// The kernel's types, as far as the programs read them (CO-RE relocates each field).
struct qstr {
	const unsigned char *name;
} __attribute__((preserve_access_index));

struct super_block {
	__u32 s_dev;
} __attribute__((preserve_access_index));

struct inode {
	__u16 i_mode;
	unsigned long i_ino;
} __attribute__((preserve_access_index));

struct dentry {
	struct dentry *d_parent;
	struct qstr d_name;
	struct inode *d_inode;
	struct super_block *d_sb;
} __attribute__((preserve_access_index));

struct vfsmount {
	struct dentry *mnt_root;
} __attribute__((preserve_access_index));

struct mount {
	struct mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct vfsmount mnt;
} __attribute__((preserve_access_index));

struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
} __attribute__((preserve_access_index));

struct file {
	struct path f_path;
} __attribute__((preserve_access_index));

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct {
	struct fdtable *fdt;
} __attribute__((preserve_access_index));

struct fs_struct {
	struct path root;
	struct path pwd;
} __attribute__((preserve_access_index));

typedef struct {
	__u32 val;
} kuid_t;
typedef struct {
	__u32 val;
} kgid_t;

struct cred {
	kuid_t euid;
	kgid_t egid;
} __attribute__((preserve_access_index));

struct task_struct {
	int tgid;
	struct task_struct *real_parent;
	const struct cred *cred;
	struct fs_struct *fs;
	struct files_struct *files;
} __attribute__((preserve_access_index));

// A syscalls:sys_enter_* record: every argument is 8 bytes from offset 16 (checked by the loader
// against the tracepoint's format).
struct sc_ctx {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__u64 args[6];
};

// One record. attrib/filerecord.go decodes it at these offsets.
struct change {
	__u32 call; // enum call in filerecord.go
	__u32 pid;  // thread group id (the process)
	__u32 tid;
	__u32 uid; // real
	__u32 gid;
	__u32 euid;
	__u32 egid;
	__u32 ppid;
	__u32 flags;
	__u32 level; // a walk's match: how far below the watched directory
	__u64 boot_ns;
	char comm[16];
	__u64 args[6];
	__u8 extra[EXTRA_LEN];
	__u32 fdev; // fd calls: the file; else the base directory of a relative path (0 for absolute)
	__u32 fmode;
	__u64 fino;
	__u32 pdev; // fd calls: the file's parent
	__u32 base_n;
	__u64 pino;
	__u32 cwd_n;
	__u32 pad;
	char path1[PATH_LEN];
	char path2[PATH_LEN];
	// The working directory's cwd_n components, then the base's base_n, leaf first each. A
	// record is sent only up to the last one used: about 0.9 KB for a typical call, not the
	// 3.8 KB of the whole array.
	char walked[2 * COMP_MAX][COMP_LEN];
};

struct key {
	__u32 dev;
	__u32 pad;
	__u64 ino;
};

// dirs values.
#define DIR_BELOW_MASK 0xff // levels below the directory that count, plus one (0: not watched)
#define DIR_ANCESTOR 0x100  // an ancestor of a watched directory
#define DIR_LIVE 0x200      // a backend (fanotify, inotify) watches its entries: see quiet below

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct key);
	__type(value, __u32);
} dirs SEC(".maps");

struct prefix {
	__u32 prefixlen; // bits
	char path[PATH_LEN];
};

// The watched directories' host paths, each with a trailing slash; the value is the levels below
// it that count, plus the number of slashes in the prefix << 8, plus PREFIX_LIVE.
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct prefix);
	__type(value, __u32);
} prefixes SEC(".maps");

#define PREFIX_SLASHES(v) (((v) >> 8) & 0xffff)
#define PREFIX_LIVE (1u << 24) // as DIR_LIVE

// config[0]: the deepest level a walk needs; 0xffffffff: nothing is watched.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RING_SIZE);
} changes SEC(".maps");

// drops[0] counts records the ring buffer had no room for.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

// Scratch space for the path arguments, read before the filter decides, and the record, built
// here and copied into the ring at the length it has.
struct scratch {
	struct prefix p1;
	struct prefix p2;
	struct change rec;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

static __always_inline void dropped(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&drops, &zero);
	if (n)
		*n += 1;
}

// A record of a change to an entry of a directory a backend watches live is quiet: the event
// that backend reports makes the daemon drain the ring (a sync), so the reader is not woken for
// it, except by a quarter-full ring. Any other record (below a watched directory, in a polled
// one, a path with "..") wakes the reader at once: nothing else would report that change, and
// there is no timer.
static __always_inline __u64 wakeup(int quiet)
{
	if (!quiet)
		return BPF_RB_FORCE_WAKEUP;
	return bpf_ringbuf_query(&changes, BPF_RB_AVAIL_DATA) > RING_QUARTER ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline struct file *fd_file(struct task_struct *task, long fd)
{
	if (fd < 0)
		return 0;
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt)
		return 0;
	if ((unsigned long)fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = 0;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

// walk looks for d or an ancestor in dirs, the change being `extra` levels below d. It returns
// 1, the level and whether the change is quiet (an entry of a live directory) when one covers it.
static __always_inline int walk(struct dentry *d, __u32 extra, __u32 max, __u32 *level, int *quiet)
{
	for (__u32 i = 0; i < MAX_LEVEL; i++) {
		if (i + extra > max || !d)
			return 0;
		struct key k = {};
		k.dev = BPF_CORE_READ(d, d_sb, s_dev);
		k.ino = BPF_CORE_READ(d, d_inode, i_ino);
		__u32 *v = bpf_map_lookup_elem(&dirs, &k);
		if (v && (*v & DIR_BELOW_MASK) && (*v & DIR_BELOW_MASK) - 1 >= i + extra) {
			*level = i + extra;
			*quiet = i + extra == 0 && (*v & DIR_LIVE);
			return 1;
		}
		struct dentry *p = BPF_CORE_READ(d, d_parent);
		if (p == d)
			return 0;
		d = p;
	}
	return 0;
}

static __always_inline int is_ancestor(struct dentry *d)
{
	struct key k = {};
	k.dev = BPF_CORE_READ(d, d_sb, s_dev);
	k.ino = BPF_CORE_READ(d, d_inode, i_ino);
	__u32 *v = bpf_map_lookup_elem(&dirs, &k);
	return v && (*v & DIR_ANCESTOR);
}

// shape counts a path's slashes and says whether it has a "." or ".." component or a "//",
// which the prefix lookup and the level count cannot see through. It reads the path 8 bytes at a
// time at a stride of 6, so every 3-byte window lies within one read, and finds the bytes with
// the classic has-zero trick (a false positive only makes a record more likely, never less).
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
#define FIRST6 0x0000808080808080ULL

static __always_inline __u64 zeros(__u64 v)
{
	return (v - ONES) & ~v & HIGHS;
}

struct shape {
	const char *p; // a path in the scratch map
	long n;        // its bytes with the NUL
	__u32 slashes;
	__u32 odd;
};

// shape_step reads the 8 bytes at i*6; it runs under bpf_loop, so the verifier checks one step.
static long shape_step(__u64 i, void *arg)
{
	struct shape *s = arg;
	long off = i * 6;
	if (off >= s->n)
		return 1;
	if (off > PATH_LEN - 8) {
		s->odd = 1; // a tail not scanned: recorded, whatever it names
		return 1;
	}
	const char *p = s->p;
	__u64 w = *(const __u64 *)(p + (off & 0xff));
	long left = s->n - 1 - off; // bytes of the path from off, without its NUL
	if (left < 8)
		w &= (1ULL << ((left & 7) * 8)) - 1; // what follows the NUL reads as NUL
	__u64 sl = zeros(w ^ (ONES * '/'));
	__u64 dot = zeros(w ^ (ONES * '.'));
	__u64 nul = zeros(w);
	// "/." followed by ".", "/" or the end; "//".
	if ((sl & (dot >> 8) & ((dot | sl | nul) >> 16)) | (sl & (sl >> 8)))
		s->odd = 1;
	// A leading "." or ".." component of a relative path.
	if (off == 0 && (w & 0xff) == '.') {
		__u64 b1 = (w >> 8) & 0xff, b2 = (w >> 16) & 0xff;
		if (b1 == '/' || b1 == 0 || (b1 == '.' && (b2 == '/' || b2 == 0)))
			s->odd = 1;
	}
	// The slashes among the first 6 bytes (the next read starts there).
	sl = (sl & FIRST6) >> 7;
	s->slashes += (sl * ONES) >> 56;
	return 0;
}

static __always_inline void shape_of(const char *p, long n, struct shape *s)
{
	s->p = p;
	s->n = n;
	s->slashes = 0;
	s->odd = 0;
	bpf_loop(PATH_LEN / 6 + 1, shape_step, s, 0);
}

// wanted decides whether a path argument names something in (or below) a watched directory.
// p holds the path (n bytes with the NUL), base its base directory when relative.
static __always_inline int wanted(struct prefix *p, long n, struct dentry *base, __u32 max, __u32 *level, int *quiet)
{
	*quiet = 0;
	if (n <= 1 || n > PATH_LEN)
		return 0;
	struct shape s;
	shape_of(p->path, n, &s);
	if (s.odd)
		return 1;
	if (p->path[0] == '/') {
		// The longest watched prefix, and whether the entry is no deeper below it than it
		// covers: its value holds the levels it covers and the slashes in the prefix.
		p->prefixlen = (n - 1) * 8;
		__u32 *v = bpf_map_lookup_elem(&prefixes, p);
		if (!v || s.slashes > PREFIX_SLASHES(*v) + (*v & DIR_BELOW_MASK))
			return 0;
		*quiet = s.slashes == PREFIX_SLASHES(*v) && (*v & PREFIX_LIVE);
		return 1;
	}
	if (!base)
		return 0;
	if (walk(base, s.slashes, max, level, quiet))
		return 1;
	return s.slashes > 0 && is_ancestor(base);
}

// pathwalk writes the path of (vm, d) into the scratch record's walked[start...], leaf first, up
// to the task's root; it returns the number of components, or -1 when it could not be read
// completely. Each step runs under bpf_loop.
struct pwalk {
	struct dentry *d;
	struct vfsmount *vm;
	struct mount *mnt;
	struct dentry *root;
	struct vfsmount *rootmnt;
	__u32 start;
	int n; // components so far; -1: failed
	int done;
};

static long pathwalk_step(__u64 i, void *arg)
{
	struct pwalk *w = arg;
	struct dentry *d = w->d;
	struct vfsmount *vm = w->vm;
	struct mount *mnt = w->mnt;
	if (d == w->root && vm == w->rootmnt) {
		w->done = 1;
		return 1;
	}
	struct dentry *mroot = BPF_CORE_READ(vm, mnt_root);
	if (d == mroot) {
		struct mount *parent = BPF_CORE_READ(mnt, mnt_parent);
		if (parent == mnt) { // the namespace's root
			w->done = 1;
			return 1;
		}
		w->d = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = parent;
		w->vm = (struct vfsmount *)((char *)parent + bpf_core_field_offset(struct mount, mnt));
		return 0;
	}
	int n = w->n;
	if (n < 0 || n >= COMP_MAX) {
		w->n = -1;
		return 1;
	}
	__u32 zero = 0;
	struct scratch *sc = bpf_map_lookup_elem(&scratch, &zero);
	if (!sc) {
		w->n = -1;
		return 1;
	}
	const unsigned char *name = BPF_CORE_READ(d, d_name.name);
	__u32 at = w->start + n;
	if (at >= 2 * COMP_MAX) {
		w->n = -1;
		return 1;
	}
	long got = bpf_probe_read_kernel_str(sc->rec.walked[at], COMP_LEN, name);
	if (got < 0 || got == COMP_LEN) {
		w->n = -1;
		return 1;
	}
	w->n = n + 1;
	struct dentry *p = BPF_CORE_READ(d, d_parent);
	if (p == d) {
		w->n = -1;
		return 1;
	}
	w->d = p;
	return 0;
}

static __always_inline int pathwalk(struct task_struct *task, struct vfsmount *vm, struct dentry *d, __u32 start)
{
	struct pwalk w = {};
	w.d = d;
	w.vm = vm;
	w.mnt = (struct mount *)((char *)vm - bpf_core_field_offset(struct mount, mnt));
	w.root = BPF_CORE_READ(task, fs, root.dentry);
	w.rootmnt = BPF_CORE_READ(task, fs, root.mnt);
	w.start = start;
	bpf_loop(2 * COMP_MAX, pathwalk_step, &w, 0);
	if (!w.done || w.n < 0)
		return -1;
	return w.n;
}

// What each traced call's arguments are. -1: none.
struct desc {
	__u32 call;
	int dfd;    // the dirfd of path1 (-1: AT_FDCWD)
	int path1;  // a path argument
	int dfd2;   // the dirfd of path2 (-1: AT_FDCWD)
	int path2;  // a second path argument (rename, link, symlink's new name)
	int fd;     // a file descriptor argument (fchmod)
	int extra;  // an argument pointing at a struct to copy (utimensat's times, openat2's how)
	int oflags; // open flags: the call is recorded only for writing, creating or truncating
	int check1; // 0: path1 is not filtered (symlink's target, mount's source)
	int nargs;
};

#define O_WRONLY_ 01
#define O_RDWR_ 02
#define O_CREAT_ 0100
#define O_TRUNC_ 01000
#define O_TMPFILE_ 020000000

static __always_inline int handle(struct sc_ctx *ctx, const struct desc *d)
{
	__u32 zero = 0;
	__u32 *maxp = bpf_map_lookup_elem(&config, &zero);
	if (!maxp || *maxp == 0xffffffff)
		return 0;
	__u32 max = *maxp;
	__u64 a[8] = {};
	for (int i = 0; i < 6; i++)
		if (i < d->nargs)
			a[i] = ctx->args[i];
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	__u8 extra[EXTRA_LEN] = {};
	int have_extra = 0;
	if (d->extra >= 0 && a[d->extra & 7]) {
		if (bpf_probe_read_user(extra, sizeof(extra), (void *)a[d->extra & 7]) == 0)
			have_extra = 1;
	}
	if (d->oflags >= 0) {
		__u64 fl = d->oflags == 9 ? (have_extra ? *(__u64 *)extra : 0) : a[d->oflags & 7];
		if (!(fl & (O_WRONLY_ | O_RDWR_ | O_CREAT_ | O_TRUNC_ | O_TMPFILE_)))
			return 0; // a read
	}

	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;
	long n1 = 0, n2 = 0;
	s->p1.path[0] = 0;
	s->p2.path[0] = 0;
	if (d->path1 >= 0 && a[d->path1 & 7])
		n1 = bpf_probe_read_user_str(s->p1.path, PATH_LEN, (void *)a[d->path1 & 7]);
	if (d->path2 >= 0 && a[d->path2 & 7])
		n2 = bpf_probe_read_user_str(s->p2.path, PATH_LEN, (void *)a[d->path2 & 7]);
	if (n1 < 0)
		n1 = 0;
	if (n2 < 0)
		n2 = 0;

	// The working directory is read only for a relative path (and once a record is made).
	struct dentry *cwd = 0;
	if ((n1 > 1 && s->p1.path[0] != '/') || (n2 > 1 && s->p2.path[0] != '/'))
		cwd = BPF_CORE_READ(task, fs, pwd.dentry);
	__u32 level = 0;
	int want = 0, byfd = 0, quiet = 0;
	struct file *ff = 0;
	struct dentry *base1 = 0;
	struct vfsmount *base1mnt = 0;

	// A file named by descriptor: fchmod(fd), or an *at call with an empty (or no) path.
	long fdn = -1;
	if (d->fd >= 0)
		fdn = (long)(int)a[d->fd & 7];
	else if (d->dfd >= 0 && d->path1 >= 0 && n1 <= 1 && (int)a[d->dfd & 7] != AT_FDCWD_)
		fdn = (long)(int)a[d->dfd & 7];
	if (fdn >= 0) {
		ff = fd_file(task, fdn);
		if (!ff)
			return 0;
		struct dentry *fd_d = BPF_CORE_READ(ff, f_path.dentry);
		want = walk(BPF_CORE_READ(fd_d, d_parent), 0, max, &level, &quiet);
		byfd = 1;
	} else {
		if (d->path1 >= 0) {
			if (d->dfd >= 0 && (int)a[d->dfd & 7] != AT_FDCWD_) {
				struct file *df = fd_file(task, (long)(int)a[d->dfd & 7]);
				if (df) {
					base1 = BPF_CORE_READ(df, f_path.dentry);
					base1mnt = BPF_CORE_READ(df, f_path.mnt);
				}
			} else {
				base1 = cwd;
			}
			if (d->check1)
				want = wanted(&s->p1, n1, base1, max, &level, &quiet);
		}
		// The second path is looked at when the first is not wanted, or wanted and quiet: a
		// rename out of a live directory into a new one below it must wake the reader.
		if ((!want || quiet) && d->path2 >= 0) {
			struct dentry *base2 = cwd;
			if (d->dfd2 >= 0 && (int)a[d->dfd2 & 7] != AT_FDCWD_) {
				struct file *df = fd_file(task, (long)(int)a[d->dfd2 & 7]);
				base2 = df ? BPF_CORE_READ(df, f_path.dentry) : 0;
			}
			__u32 level2 = 0;
			int quiet2 = 0;
			if (wanted(&s->p2, n2, base2, max, &level2, &quiet2)) {
				if (!want)
					level = level2;
				quiet = (!want || quiet) && quiet2;
				want = 1;
			}
		}
	}
	if (!want)
		return 0;

	struct change *c = &s->rec;
	__u64 id = bpf_get_current_pid_tgid();
	__u64 ug = bpf_get_current_uid_gid();
	c->call = d->call;
	c->pid = id >> 32;
	c->tid = (__u32)id;
	c->uid = (__u32)ug;
	c->gid = ug >> 32;
	c->euid = BPF_CORE_READ(task, cred, euid.val);
	c->egid = BPF_CORE_READ(task, cred, egid.val);
	c->ppid = BPF_CORE_READ(task, real_parent, tgid);
	c->flags = 0;
	c->level = level;
	c->boot_ns = bpf_ktime_get_boot_ns();
	bpf_get_current_comm(c->comm, sizeof(c->comm));
	for (int i = 0; i < 6; i++)
		c->args[i] = a[i];
	if (have_extra) {
		__builtin_memcpy(c->extra, extra, sizeof(extra));
		c->flags |= F_EXTRA;
	} else {
		__builtin_memset(c->extra, 0, sizeof(c->extra));
	}
	if (n1 == PATH_LEN)
		c->flags |= F_PATH1_CUT;
	if (n2 == PATH_LEN)
		c->flags |= F_PATH2_CUT;
	bpf_probe_read_kernel(c->path1, PATH_LEN, s->p1.path);
	bpf_probe_read_kernel(c->path2, PATH_LEN, s->p2.path);
	c->fdev = 0;
	c->fino = 0;
	c->fmode = 0;
	c->pdev = 0;
	c->pino = 0;
	c->base_n = 0;
	c->cwd_n = 0;
	c->pad = 0;

	struct vfsmount *bm = 0;
	struct dentry *bd = 0;
	if (byfd) {
		c->flags |= F_FD;
		bd = BPF_CORE_READ(ff, f_path.dentry);
		bm = BPF_CORE_READ(ff, f_path.mnt);
		c->fdev = BPF_CORE_READ(bd, d_sb, s_dev);
		c->fino = BPF_CORE_READ(bd, d_inode, i_ino);
		c->fmode = BPF_CORE_READ(bd, d_inode, i_mode);
		c->pdev = BPF_CORE_READ(bd, d_parent, d_sb, s_dev);
		c->pino = BPF_CORE_READ(bd, d_parent, d_inode, i_ino);
	} else if (base1 && base1 != cwd) {
		bd = base1;
		bm = base1mnt;
		c->fdev = BPF_CORE_READ(bd, d_sb, s_dev);
		c->fino = BPF_CORE_READ(bd, d_inode, i_ino);
	}
	if (!cwd)
		cwd = BPF_CORE_READ(task, fs, pwd.dentry);
	struct vfsmount *cm = BPF_CORE_READ(task, fs, pwd.mnt);
	__u32 cn = 0, bn = 0;
	int n = pathwalk(task, cm, cwd, 0);
	if (n >= 0 && n <= COMP_MAX) {
		cn = n;
		c->cwd_n = cn;
		c->flags |= F_CWD;
	}
	if (bd && bm) {
		n = pathwalk(task, bm, bd, cn);
		if (n >= 0 && n <= COMP_MAX) {
			bn = n;
			c->base_n = bn;
			c->flags |= F_BASE;
		}
	}
	__u64 size = __builtin_offsetof(struct change, walked) + (__u64)(cn + bn) * COMP_LEN;
	// The compiler knows the bound; the verifier, reading cn and bn back from the stack, does
	// not: hide it from the one so that the other sees the check.
	asm volatile("" : "+r"(size));
	if (size > sizeof(*c))
		size = sizeof(*c);
	if (bpf_ringbuf_output(&changes, c, size, wakeup(quiet)))
		dropped();
	return 0;
}

// Calls (enum call in filerecord.go).
enum call {
	C_CHMOD = 1, C_FCHMOD, C_FCHMODAT, C_FCHMODAT2,
	C_CHOWN, C_LCHOWN, C_FCHOWN, C_FCHOWNAT,
	C_UTIME, C_UTIMES, C_UTIMENSAT, C_FUTIMESAT,
	C_OPEN, C_OPENAT, C_OPENAT2, C_CREAT,
	C_TRUNCATE, C_FTRUNCATE,
	C_MKNOD, C_MKNODAT, C_MKDIR, C_MKDIRAT,
	C_UNLINK, C_UNLINKAT, C_RMDIR,
	C_RENAME, C_RENAMEAT, C_RENAMEAT2,
	C_LINK, C_LINKAT, C_SYMLINK, C_SYMLINKAT,
	C_SETXATTR, C_LSETXATTR, C_FSETXATTR, C_SETXATTRAT,
	C_REMOVEXATTR, C_LREMOVEXATTR, C_FREMOVEXATTR, C_REMOVEXATTRAT,
	C_MOUNT, C_MOVE_MOUNT,
};

// TRACE defines the program of one call: its tracepoint and its argument description.
// nargs is how many arguments the call has: the programs read no further into the
// tracepoint's record (the kernel refuses to attach one that could).
#define TRACE(sc, c, dfd_, p1, dfd2_, p2, fd_, ex, of, ck, nargs)                  \
	SEC("tracepoint/syscalls/sys_enter_" #sc)                                     \
	int enter_##sc(struct sc_ctx *ctx)                                            \
	{                                                                             \
		const struct desc d = {c, dfd_, p1, dfd2_, p2, fd_, ex, of, ck, nargs}; \
		return handle(ctx, &d);                                               \
	}

//     syscall        call             dfd p1 dfd2 p2  fd extra oflags check1 nargs
TRACE(chmod,          C_CHMOD,         -1, 0, -1, -1, -1, -1, -1, 1, 2)
TRACE(fchmod,         C_FCHMOD,        -1, -1, -1, -1, 0, -1, -1, 1, 2)
TRACE(fchmodat,       C_FCHMODAT,       0, 1, -1, -1, -1, -1, -1, 1, 3)
TRACE(fchmodat2,      C_FCHMODAT2,      0, 1, -1, -1, -1, -1, -1, 1, 4)
TRACE(chown,          C_CHOWN,         -1, 0, -1, -1, -1, -1, -1, 1, 3)
TRACE(lchown,         C_LCHOWN,        -1, 0, -1, -1, -1, -1, -1, 1, 3)
TRACE(fchown,         C_FCHOWN,        -1, -1, -1, -1, 0, -1, -1, 1, 3)
TRACE(fchownat,       C_FCHOWNAT,       0, 1, -1, -1, -1, -1, -1, 1, 5)
TRACE(utime,          C_UTIME,         -1, 0, -1, -1, -1, 1, -1, 1, 2)
TRACE(utimes,         C_UTIMES,        -1, 0, -1, -1, -1, 1, -1, 1, 2)
TRACE(utimensat,      C_UTIMENSAT,      0, 1, -1, -1, -1, 2, -1, 1, 4)
TRACE(futimesat,      C_FUTIMESAT,      0, 1, -1, -1, -1, 2, -1, 1, 3)
TRACE(open,           C_OPEN,          -1, 0, -1, -1, -1, -1, 1, 1, 3)
TRACE(openat,         C_OPENAT,         0, 1, -1, -1, -1, -1, 2, 1, 4)
TRACE(openat2,        C_OPENAT2,        0, 1, -1, -1, -1, 2, 9, 1, 4)
TRACE(creat,          C_CREAT,         -1, 0, -1, -1, -1, -1, -1, 1, 2)
TRACE(truncate,       C_TRUNCATE,      -1, 0, -1, -1, -1, -1, -1, 1, 2)
TRACE(ftruncate,      C_FTRUNCATE,     -1, -1, -1, -1, 0, -1, -1, 1, 2)
TRACE(mknod,          C_MKNOD,         -1, 0, -1, -1, -1, -1, -1, 1, 3)
TRACE(mknodat,        C_MKNODAT,        0, 1, -1, -1, -1, -1, -1, 1, 4)
TRACE(mkdir,          C_MKDIR,         -1, 0, -1, -1, -1, -1, -1, 1, 2)
TRACE(mkdirat,        C_MKDIRAT,        0, 1, -1, -1, -1, -1, -1, 1, 3)
TRACE(unlink,         C_UNLINK,        -1, 0, -1, -1, -1, -1, -1, 1, 1)
TRACE(unlinkat,       C_UNLINKAT,       0, 1, -1, -1, -1, -1, -1, 1, 3)
TRACE(rmdir,          C_RMDIR,         -1, 0, -1, -1, -1, -1, -1, 1, 1)
TRACE(rename,         C_RENAME,        -1, 0, -1, 1, -1, -1, -1, 1, 2)
TRACE(renameat,       C_RENAMEAT,       0, 1, 2, 3, -1, -1, -1, 1, 4)
TRACE(renameat2,      C_RENAMEAT2,      0, 1, 2, 3, -1, -1, -1, 1, 5)
TRACE(link,           C_LINK,          -1, 0, -1, 1, -1, -1, -1, 0, 2)
TRACE(linkat,         C_LINKAT,         0, 1, 2, 3, -1, -1, -1, 0, 5)
TRACE(symlink,        C_SYMLINK,       -1, 0, -1, 1, -1, -1, -1, 0, 2)
TRACE(symlinkat,      C_SYMLINKAT,     -1, 0, 1, 2, -1, -1, -1, 0, 3)
TRACE(setxattr,       C_SETXATTR,      -1, 0, -1, -1, -1, -1, -1, 1, 5)
TRACE(lsetxattr,      C_LSETXATTR,     -1, 0, -1, -1, -1, -1, -1, 1, 5)
TRACE(fsetxattr,      C_FSETXATTR,     -1, -1, -1, -1, 0, -1, -1, 1, 5)
TRACE(setxattrat,     C_SETXATTRAT,     0, 1, -1, -1, -1, -1, -1, 1, 6)
TRACE(removexattr,    C_REMOVEXATTR,   -1, 0, -1, -1, -1, -1, -1, 1, 2)
TRACE(lremovexattr,   C_LREMOVEXATTR,  -1, 0, -1, -1, -1, -1, -1, 1, 2)
TRACE(fremovexattr,   C_FREMOVEXATTR,  -1, -1, -1, -1, 0, -1, -1, 1, 2)
TRACE(removexattrat,  C_REMOVEXATTRAT,  0, 1, -1, -1, -1, -1, -1, 1, 4)
TRACE(mount,          C_MOUNT,         -1, 0, -1, 1, -1, -1, -1, 0, 5)
TRACE(move_mount,     C_MOVE_MOUNT,     0, 1, 2, 3, -1, -1, -1, 0, 5)
