package proc

// Attribution says how the actor of a change is known. The values are stable: they are
// tripline.attribution in ECS and "attribution" in every JSON output.
type Attribution string

const (
	// AttrKernel: the executable, arguments and ids were captured in the kernel at exec, in the
	// acting task's context.
	AttrKernel Attribution = "kernel"
	// AttrExecCache: the kernel reported the exec; the process was read from /proc just after it.
	AttrExecCache Attribution = "exec-cache"
	// AttrLive: the process was read from /proc while the event was handled.
	AttrLive Attribution = "live"
	// AttrParentOnly: the process was gone; its name and parent are known.
	AttrParentOnly Attribution = "parent-only"
	// AttrPIDOnly: the kernel's pid, and nothing else could be learned of it.
	AttrPIDOnly Attribution = "pid-only"
	// AttrHeuristic: the backend gave no pid; the actor is a recent process whose arguments
	// name the path.
	AttrHeuristic Attribution = "heuristic"
	// AttrNone: nobody is known (a scan, or a backend without pids and no guess).
	AttrNone Attribution = "none"
	// AttrSyscall: the kernel's file-change feed recorded the call that made this change, in the
	// calling task's context; the process is the exec cache's record of that task.
	AttrSyscall Attribution = "syscall"
	// AttrSelf: tripline itself made the change (tripline restore).
	AttrSelf Attribution = "self"
)

// Actor is who made a change, as far as it is known. It has one shape everywhere: in the
// findings the daemon emits, in the history rows the store keeps, and in every report and export
// that shows them.
type Actor struct {
	Attribution Attribution `json:"attribution"`
	Why         string      `json:"why,omitempty"` // what is missing, for pid-only, parent-only and heuristic
	PID         int32       `json:"pid,omitempty"` // 0 when unknown
	Process     *Process    `json:"process,omitempty"`
	// Ancestors are the parents up to pid 1, parent first, at most MaxAncestors.
	Ancestors []Process `json:"ancestors,omitempty"`
}

// Nobody is the actor of a change whose maker is not known.
func Nobody() *Actor { return &Actor{Attribution: AttrNone} }

// Known reports whether a is a process (not nil, not pid-only or none).
func (a *Actor) Known() bool { return a != nil && a.Process != nil }

// Parent returns the actor's parent, or nil when it is not known.
func (a *Actor) Parent() *Process {
	if a == nil || len(a.Ancestors) == 0 {
		return nil
	}
	return &a.Ancestors[0]
}
