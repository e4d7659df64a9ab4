package sysmon

/*
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

// What the handler does on the thread it runs on: if the thread's slack
// is gompi_sysmon_from (any, if 0), make it gompi_sysmon_to.
static long gompi_sysmon_from, gompi_sysmon_to;
static volatile int gompi_sysmon_ran;     // handlers run
static volatile int gompi_sysmon_refused; // prctl failures among them

// Runs on the signalled thread: prctl sets and reads the calling thread's
// slack only. prctl is a plain system call, safe in a handler.
static void gompi_sysmon_handler(int sig) {
	(void)sig;
	if (gompi_sysmon_from == 0 || prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0) == gompi_sysmon_from) {
		if (prctl(PR_SET_TIMERSLACK, (unsigned long)gompi_sysmon_to, 0, 0, 0) != 0) {
			__atomic_add_fetch(&gompi_sysmon_refused, 1, __ATOMIC_SEQ_CST);
		}
	}
	__atomic_add_fetch(&gompi_sysmon_ran, 1, __ATOMIC_SEQ_CST);
}

// The signal: one that neither Go nor MPI uses.
static int gompi_sysmon_sig(void) { return SIGRTMIN + 5; }

// gompi_sysmon_signal runs the handler on each of the n threads tids of
// this process (slack from -> to), waits up to ~0.1 s for them, and puts
// the signal's old handler (Go's) back. It returns 0 or an errno value.
static int gompi_sysmon_signal(const int *tids, int n, long from, long to) {
	int sig = gompi_sysmon_sig();
	struct sigaction sa, old;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = gompi_sysmon_handler;
	sa.sa_flags = SA_RESTART | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	gompi_sysmon_from = from;
	gompi_sysmon_to = to;
	gompi_sysmon_ran = 0;
	gompi_sysmon_refused = 0;
	if (sigaction(sig, &sa, &old) != 0) {
		return errno;
	}
	int err = 0, sent = 0;
	for (int i = 0; i < n; i++) {
		if (syscall(SYS_tgkill, getpid(), tids[i], sig) == 0) {
			sent++;
		} else if (errno != ESRCH) { // ESRCH: the thread has ended
			err = errno;
		}
	}
	for (int i = 0; i < 2000 && __atomic_load_n(&gompi_sysmon_ran, __ATOMIC_SEQ_CST) < sent; i++) {
		usleep(50);
	}
	if (err == 0 && __atomic_load_n(&gompi_sysmon_ran, __ATOMIC_SEQ_CST) < sent) {
		err = ETIMEDOUT;
	}
	if (err == 0 && gompi_sysmon_refused > 0) {
		err = EPERM;
	}
	sigaction(sig, &old, NULL);
	return err;
}

static long gompi_sysmon_own(void) { return prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0); }
static void gompi_sysmon_set_own(long ns) { prctl(PR_SET_TIMERSLACK, (unsigned long)ns, 0, 0, 0); }
*/
import "C"

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Slack is sysmon's lengthened timer slack.
type Slack struct {
	Long   time.Duration // sysmon's
	Normal time.Duration // every other thread's, as the process started
	Thread int           // sysmon's thread id

	created *pprof.Profile // the runtime's threads, for their count
	mu      sync.Mutex     // one Settle at a time: the handler's state is the process's
	seen    atomic.Int64   // the thread count the last Settle saw; -1 before the first
}

// Lengthen gives sysmon the timer slack of GOMPI_SYSMON_SLACK, or Default.
// It returns nil where it changed nothing (the variable is 0). Call it
// early, while the process has few threads.
func Lengthen() (*Slack, error) {
	long := Default
	if v, ok := os.LookupEnv(Env); ok {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > time.Second {
			return nil, &SettingError{Value: v}
		}
		long = d
	}
	if long == 0 {
		return nil, nil
	}
	normal := time.Duration(C.gompi_sysmon_own())
	if normal <= 0 || normal == long {
		return nil, fmt.Errorf("this thread's own timer slack is %v", normal)
	}
	tid, err := Thread()
	if err != nil {
		return nil, err
	}
	if err := signal([]int{tid}, 0, long); err != nil {
		return nil, fmt.Errorf("timer slack of thread %d: %w", tid, err)
	}
	sl := &Slack{Long: long, Normal: normal, Thread: tid, created: pprof.Lookup("threadcreate")}
	sl.seen.Store(-1)
	return sl, nil
}

// Settle gives the threads that inherited sysmon's slack the normal one
// back. sysmon starts threads itself (when it hands a processor held by a
// blocked call, such as MPI_Init, to a thread and none is idle), and a
// thread inherits its creator's slack. Those threads run goroutines
// afterwards, and a timer that one of them waits for in the network poller
// would be up to the long slack late: a cell's time.Sleep(time.Millisecond)
// took 2.2-2.5 ms. It returns how many threads it looked at.
func (s *Slack) Settle() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen.Store(int64(s.created.Count())) // before the threads are listed
	all, err := threads()
	if err != nil {
		return 0, err
	}
	var tids []int
	for _, tid := range all {
		if tid != s.Thread && !blocksSignal(tid) {
			tids = append(tids, tid)
		}
	}
	if err := signal(tids, s.Long, s.Normal); err != nil {
		return len(tids), fmt.Errorf("timer slack of %d threads: %w", len(tids), err)
	}
	return len(tids), nil
}

// Plain runs f locked to the calling goroutine's thread, which has the
// normal slack while f runs and keeps it afterwards. Threads that C code in
// f starts inherit it: libzmq starts its I/O threads at a context's first
// socket, and they block every signal, so that Settle cannot reach them
// later. (The calling thread may be one that sysmon started and that has
// not been settled yet.) f runs even where the slack cannot be set (it
// always can: a thread sets its own); a nil Slack just runs f.
func (s *Slack) Plain(f func() error) error {
	if s == nil {
		return f()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if time.Duration(C.gompi_sysmon_own()) != s.Normal {
		C.gompi_sysmon_set_own(C.long(s.Normal))
	}
	return f()
}

// Check settles if the runtime has started threads since the last Settle.
// Without new threads it costs a look at the runtime's count of them (a
// walk of a list of a dozen), so it can run before every cell. A nil Slack
// does nothing.
func (s *Slack) Check() error {
	if s == nil || int64(s.created.Count()) == s.seen.Load() {
		return nil
	}
	_, err := s.Settle()
	return err
}

// Keep checks every period until ctx ends, for the threads started while
// no cell runs; report gets the errors.
func (s *Slack) Keep(ctx context.Context, period time.Duration, report func(error)) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		if err := s.Check(); err != nil {
			report(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// blocksSignal reports whether thread tid blocks the handler's signal, as
// threads that MPI and ZeroMQ start do: the signal would wait there for
// ever, and Settle for it. Go's threads block it only while starting.
func blocksSignal(tid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/status", tid))
	if err != nil {
		return true
	}
	for _, line := range strings.Split(string(b), "\n") {
		if mask, ok := strings.CutPrefix(line, "SigBlk:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(mask), 16, 64)
			return err != nil || m&(1<<(uint(C.gompi_sysmon_sig())-1)) != 0
		}
	}
	return true
}

// signal runs the handler on the threads tids: each whose slack is from
// (any, if 0) gets to.
func signal(tids []int, from, to time.Duration) error {
	if len(tids) == 0 {
		return nil
	}
	c := make([]C.int, len(tids))
	for i, t := range tids {
		c[i] = C.int(t)
	}
	if e := C.gompi_sysmon_signal(&c[0], C.int(len(c)), C.long(from), C.long(to)); e != 0 {
		return syscall.Errno(e)
	}
	return nil
}

// Thread returns sysmon's thread id. The runtime starts sysmon before
// anything else can start a thread, so it is the process's oldest thread
// after the main one (FirstThread).
func Thread() (int, error) {
	all, err := threads()
	if err != nil {
		return 0, err
	}
	tid, ok := FirstThread(os.Getpid(), all)
	if !ok {
		return 0, fmt.Errorf("no thread besides the main one")
	}
	return tid, nil
}

// threads lists this process's thread ids.
func threads() ([]int, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, fmt.Errorf("list threads: %w", err)
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}
