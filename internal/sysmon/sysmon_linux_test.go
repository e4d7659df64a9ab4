package sysmon

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// threadFile reads one line of /proc/self/task/TID/name for every thread
// (timerslack_ns is only in /proc/TID).
func threadFile(t *testing.T, name string) map[int]string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	m := map[int]string{}
	for _, e := range ents {
		tid, _ := strconv.Atoi(e.Name())
		dir := filepath.Join("/proc/self/task", e.Name())
		if name == "timerslack_ns" {
			dir = filepath.Join("/proc", e.Name())
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrPermission) {
			t.Skipf("reading another thread's %s needs CAP_SYS_NICE (run as root)", name)
		}
		if err != nil {
			continue // the thread ended
		}
		m[tid] = strings.TrimSpace(string(b))
	}
	return m
}

// lengthened is the one Lengthen of the test process: as in the kernel,
// it must come before sysmon has started threads with its slack, since it
// takes the calling thread's slack for the normal one.
var lengthened = sync.OnceValues(func() (*Slack, error) {
	os.Unsetenv(Env)
	return Lengthen()
})

// TestOnlySysmonGetsTheSlack: Lengthen gives the long slack to one thread,
// sysmon, and leaves every other thread's alone. sysmon is recognised by
// what it does: while a goroutine makes system calls, it is the thread
// that sleeps in nanosleep (the runtime's usleep) between its looks.
func TestOnlySysmonGetsTheSlack(t *testing.T) {
	before := threadFile(t, "timerslack_ns")
	s, err := lengthened()
	if err != nil {
		t.Fatal(err)
	}
	if s.Long != Default || s.Normal <= 0 || s.Normal >= Default {
		t.Fatalf("slack %v, normal %v; want %v and Linux's (50µs by default)", s.Long, s.Normal, Default)
	}
	tid := s.Thread
	after := threadFile(t, "timerslack_ns")
	long := strconv.FormatInt(int64(Default), 10)
	if after[tid] != long {
		t.Errorf("thread %d: slack %s ns, want %s", tid, after[tid], long)
	}
	for id, s := range after {
		if id != tid && s != before[id] && before[id] != "" {
			t.Errorf("thread %d: slack changed from %s to %s ns", id, before[id], s)
		}
	}

	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			syscall.Syscall(syscall.SYS_GETPPID, 0, 0, 0)
		}
	}()
	asleep := map[int]int{}
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
		for id, s := range threadFile(t, "syscall") {
			if nr := strings.Fields(s + " -"); nr[0] == strconv.Itoa(syscall.SYS_NANOSLEEP) || nr[0] == strconv.Itoa(syscall.SYS_CLOCK_NANOSLEEP) {
				asleep[id]++
			}
		}
		time.Sleep(time.Millisecond)
	}
	stop.Store(true)
	<-done
	for id, n := range asleep {
		if id != tid && n >= asleep[tid] {
			t.Errorf("thread %d was seen in nanosleep %d times, the chosen thread %d only %d times: it is not sysmon", id, n, tid, asleep[tid])
		}
	}
	if asleep[tid] == 0 {
		t.Errorf("thread %d was never seen in nanosleep: it is not sysmon (seen: %v)", tid, asleep)
	}
}

// TestSettle: a thread that inherited sysmon's slack (here: a thread that
// set it itself) gets the normal one back; sysmon keeps its own.
func TestSettle(t *testing.T) {
	s, err := lengthened()
	if err != nil {
		t.Fatal(err)
	}
	tid := make(chan int)
	release := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(s.Long), 0, 0, 0); err != nil {
			t.Error(err)
		}
		tid <- unix.Gettid()
		<-release
	}()
	inherited := <-tid
	defer close(release)
	long := strconv.FormatInt(int64(s.Long), 10)
	if got := threadFile(t, "timerslack_ns")[inherited]; got != long {
		t.Fatalf("thread %d: slack %s ns before Settle, want %s", inherited, got, long)
	}
	if n, err := s.Settle(); err != nil || n < 2 {
		t.Fatalf("Settle: %d threads, %v", n, err)
	}
	after := threadFile(t, "timerslack_ns")
	if want := strconv.FormatInt(int64(s.Normal), 10); after[inherited] != want {
		t.Errorf("thread %d: slack %s ns after Settle, want %s", inherited, after[inherited], want)
	}
	if after[s.Thread] != long {
		t.Errorf("sysmon (thread %d): slack %s ns after Settle, want %s", s.Thread, after[s.Thread], long)
	}
}

func TestBadSlackSetting(t *testing.T) {
	t.Setenv(Env, "fast")
	if _, err := Lengthen(); err == nil || !strings.Contains(err.Error(), Env) {
		t.Errorf("Lengthen with %s=fast: %v, want an error naming the variable", Env, err)
	}
	t.Setenv(Env, "0")
	if s, err := Lengthen(); s != nil || err != nil {
		t.Errorf("Lengthen with %s=0: %v, %v; want nothing done", Env, s, err)
	}
}

// TestPlain: f runs on a thread with the normal slack, which the threads
// it starts inherit, even where the calling thread had inherited sysmon's.
func TestPlain(t *testing.T) {
	s, err := lengthened()
	if err != nil {
		t.Fatal(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(s.Long), 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	self := unix.Gettid()
	var inside, slack int
	err = s.Plain(func() error {
		inside = unix.Gettid()
		slack, _ = unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
		return errors.New("f's error")
	})
	if time.Duration(slack) != s.Normal {
		t.Errorf("f ran with a slack of %v, want %v", time.Duration(slack), s.Normal)
	}
	if err == nil || err.Error() != "f's error" {
		t.Errorf("Plain returned %v, want f's error", err)
	}
	if inside != self {
		t.Errorf("f ran on thread %d, not on the calling (locked) thread %d", inside, self)
	}
	want := strconv.FormatInt(int64(s.Normal), 10)
	if got := threadFile(t, "timerslack_ns")[self]; got != want {
		t.Errorf("thread %d: slack %s ns after Plain, want %s", self, got, want)
	}
}
