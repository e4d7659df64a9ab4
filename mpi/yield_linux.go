package mpi

import "syscall"

// yieldCore gives this thread's core to another runnable thread, if any.
// A raw system call: sched_yield never blocks, so the Go scheduler need
// not be told (and a plain Syscall would wake its monitor thread).
func yieldCore() {
	_, _, _ = syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
}
