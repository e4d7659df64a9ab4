package sysmon

/*
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static long gompi_sysmon_ns;
static volatile sig_atomic_t gompi_sysmon_done; // 0 pending, 1 set, -1 refused

// Runs on the signalled thread: the slack is set on the thread that calls
// prctl. prctl is a plain system call, safe in a handler.
static void gompi_sysmon_handler(int sig) {
	(void)sig;
	gompi_sysmon_done = prctl(PR_SET_TIMERSLACK, (unsigned long)gompi_sysmon_ns, 0, 0, 0) == 0 ? 1 : -1;
}

// gompi_sysmon_slack gives thread tid of this process a timer slack of ns
// by running the handler there, and puts the signal's old handler (Go's)
// back. It returns 0 or an errno value.
static int gompi_sysmon_slack(int tid, long ns) {
	int sig = SIGRTMIN + 5;
	struct sigaction sa, old;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = gompi_sysmon_handler;
	sa.sa_flags = SA_RESTART | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	gompi_sysmon_ns = ns;
	gompi_sysmon_done = 0;
	if (sigaction(sig, &sa, &old) != 0) {
		return errno;
	}
	int err = 0;
	if (syscall(SYS_tgkill, getpid(), tid, sig) != 0) {
		err = errno;
	} else {
		for (int i = 0; i < 2000 && gompi_sysmon_done == 0; i++) {
			usleep(50);
		}
		err = gompi_sysmon_done == 1 ? 0 : gompi_sysmon_done == 0 ? ETIMEDOUT : EPERM;
	}
	sigaction(sig, &old, NULL);
	return err;
}
*/
import "C"

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"syscall"
	"time"
)

// Default is sysmon's timer slack unless GOMPI_SYSMON_SLACK says otherwise.
const Default = 2 * time.Millisecond

// Env names the environment variable that overrides Default.
const Env = "GOMPI_SYSMON_SLACK"

// Lengthen gives sysmon the timer slack of GOMPI_SYSMON_SLACK, or Default,
// and returns the slack and sysmon's thread id; a zero slack means it was
// left alone. Call it early, while the process has few threads.
func Lengthen() (time.Duration, int, error) {
	slack := Default
	if v, ok := os.LookupEnv(Env); ok {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > time.Second {
			return 0, 0, fmt.Errorf("%s=%q: want a duration from 0 to 1s, like 2ms", Env, v)
		}
		slack = d
	}
	if slack == 0 {
		return 0, 0, nil
	}
	tid, err := Thread()
	if err != nil {
		return 0, 0, err
	}
	if e := C.gompi_sysmon_slack(C.int(tid), C.long(slack)); e != 0 {
		return 0, tid, fmt.Errorf("timer slack of thread %d: %w", tid, syscall.Errno(e))
	}
	return slack, tid, nil
}

// Thread returns sysmon's thread id: the lowest id above the main
// thread's. The runtime starts sysmon before anything else can start a
// thread, and ids are handed out in increasing order (until they wrap
// around, which takes pid_max threads on the whole machine).
func Thread() (int, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0, fmt.Errorf("list threads: %w", err)
	}
	pid := os.Getpid()
	var tids []int
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil && tid > pid {
			tids = append(tids, tid)
		}
	}
	if len(tids) == 0 {
		return 0, fmt.Errorf("no thread besides the main one")
	}
	sort.Ints(tids)
	return tids[0], nil
}
