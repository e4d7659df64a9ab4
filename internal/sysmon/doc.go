// Package sysmon lengthens the timer slack of the Go runtime's monitor
// thread (sysmon), and of no other thread.
//
// Why: sysmon sleeps while every Go processor is idle and is woken by the
// next system or cgo call; it then polls every 20 µs until it sees them
// idle again. A rank goes idle and busy again at least once per cell (it
// waits for its doorbell, for MPI), so sysmon woke 2-3 times per trivial
// cell. On a virtual machine, where timers and wake-ups across CPUs are
// expensive, that was 38-49 µs of a worker's ~0.19 ms of CPU per trivial
// cell and 144-159 µs of rank 0's ~0.9 ms (bench/README.md, 2026-12-05).
// With a slack of 2 ms the kernel may stretch sysmon's 20 µs sleeps up to
// 2 ms to coalesce them with other wake-ups. What sysmon does does not
// change, only how promptly: it hands a Go processor held by a blocked
// system call to another thread, and preempts a goroutine that ran 10 ms,
// up to 2 ms later. Go itself lets sysmon sleep 10 ms at a time once a
// program has been busy for a millisecond.
//
// How: a thread's timer slack can be set only by the thread itself (or by
// a process with CAP_SYS_NICE). sysmon is the first thread the runtime
// makes, before any Go code runs, so it is the process's oldest thread
// after the main one: the lowest id above the main thread's, or, where
// ids wrapped around at pid_max as the process started, the lowest below
// it (FirstThread). Lengthen sends that thread a signal
// whose handler, run on that thread, sets its slack; the handler is in
// place only for that moment. A thread inherits its creator's slack, and
// sysmon itself starts threads now and then (when it hands a processor
// held by a blocked call to another thread and none is idle); Settle
// gives those theirs back (the handler again, on each thread but sysmon).
// The kernel settles once start-up is over and then whenever the
// runtime's count of threads grew: Check before each cell, Keep every few
// seconds. So the timers of cells and of MPI waits are not delayed, but
// on a thread sysmon made during a cell, until the next cell or look.
//
// GOMPI_SYSMON_SLACK sets the slack (a Go duration); "0" leaves sysmon
// alone. Linux only.
package sysmon
