package tests

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tmuxSession is a terminal in which a person would type.
type tmuxSession struct {
	t         *testing.T
	name      string
	dismissed int // "Press ENTER to continue" pauses answered so far
}

func newTmux(t *testing.T, env []string, command string) *tmuxSession {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatalf("tmux not installed (make setup installs it): %v", err)
	}
	s := &tmuxSession{t: t, name: fmt.Sprintf("gompi-test-%d", time.Now().UnixNano())}
	args := []string{"new-session", "-d", "-s", s.name, "-x", "200", "-y", "50"}
	for _, e := range env {
		args = append(args, "-e", e)
	}
	args = append(args, command)
	if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("tmux", "kill-session", "-t", s.name).Run() })
	return s
}

func (s *tmuxSession) screen() string {
	out, _ := exec.Command("tmux", "capture-pane", "-p", "-J", "-S", "-200", "-t", s.name).Output()
	return string(out)
}

// waitFor waits until the screen shows want, failing the test after timeout.
func (s *tmuxSession) waitFor(want string, timeout time.Duration) {
	s.t.Helper()
	if !s.tryWaitFor(want, timeout) {
		s.t.Fatalf("screen never showed %q; it shows:\n%s", want, s.screen())
	}
}

// tryWaitFor waits until the screen shows want and reports whether it did.
func (s *tmuxSession) tryWaitFor(want string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		s.dismissPauses()
		if strings.Contains(s.screen(), want) {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// dismissPauses answers the "Press ENTER to continue..." with which
// jupyter console 6.4 (prompt_toolkit on Python 3.11) sometimes reports an
// error of its own event loop ("cannot enter context"), as a person would.
func (s *tmuxSession) dismissPauses() {
	n := strings.Count(s.screen(), "Press ENTER to continue")
	for ; s.dismissed < n; s.dismissed++ {
		exec.Command("tmux", "send-keys", "-t", s.name, "Enter").Run()
		time.Sleep(300 * time.Millisecond)
	}
}

// typeLine types text and presses Enter.
func (s *tmuxSession) typeLine(text string) {
	s.t.Helper()
	s.dismissPauses()
	if out, err := exec.Command("tmux", "send-keys", "-t", s.name, "-l", text).CombinedOutput(); err != nil {
		s.t.Fatalf("send-keys: %v\n%s", err, out)
	}
	if out, err := exec.Command("tmux", "send-keys", "-t", s.name, "Enter").CombinedOutput(); err != nil {
		s.t.Fatalf("send-keys Enter: %v\n%s", err, out)
	}
}

// typeBlock types lines as a person does: each once the console has
// answered the one before (a new continuation prompt is on the screen),
// after the screen has come to rest. jupyter console 6.4 loses keys typed
// while it waits for its is_complete reply or prints output.
func (s *tmuxSession) typeBlock(lines ...string) {
	s.settle(time.Second, 10*time.Second)
	for i, l := range lines {
		before := strings.Count(s.screen(), "...:")
		s.typeLine(l)
		if i == len(lines)-1 {
			return
		}
		for deadline := time.Now().Add(10 * time.Second); strings.Count(s.screen(), "...:") <= before && time.Now().Before(deadline); {
			s.dismissPauses()
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// settle waits until the screen has not changed for quiet, at most max.
func (s *tmuxSession) settle(quiet, max time.Duration) {
	last, since := s.screen(), time.Now()
	for deadline := time.Now().Add(max); time.Now().Before(deadline) && time.Since(since) < quiet; {
		time.Sleep(100 * time.Millisecond)
		s.dismissPauses()
		if now := s.screen(); now != last {
			last, since = now, time.Now()
		}
	}
}

// TestConsole is a person at `jupyter console --kernel` on 4 ranks: one
// labelled line per rank, multi-line input through is_complete, a result.
func TestConsole(t *testing.T) {
	installSpec(t, "gompi-console", 4)
	env := []string{"JUPYTER_DATA_DIR=" + getenv(t, "JUPYTER_DATA_DIR"), "JUPYTER_RUNTIME_DIR=" + getenv(t, "JUPYTER_RUNTIME_DIR")}
	s := newTmux(t, env, "jupyter console --kernel gompi-console")
	t.Cleanup(func() {
		// If the test failed before the console exited, its kernel is
		// orphaned by killing the terminal: end it too.
		for _, pid := range processesOf(getenv(t, "JUPYTER_RUNTIME_DIR")) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	s.waitFor("In [1]:", 90*time.Second)

	// As a person does: once the console has come to rest (jupyter console
	// 6.4 loses an Enter pressed while it is still starting up).
	s.settle(time.Second, 10*time.Second)
	s.typeLine(`fmt.Println("hi from", mpi.Rank())`)
	for r := 0; r < 4; r++ {
		s.waitFor(fmt.Sprintf("[%d] hi from %d", r, r), 30*time.Second)
	}
	s.waitFor("In [2]:", 30*time.Second)

	// An unfinished line makes the console ask for more (is_complete says
	// "incomplete") instead of running it. If the console's own event-loop
	// error swallowed a line, clear the input and type the block again.
	for attempt := 0; ; attempt++ {
		s.typeBlock("func seven() int {", "return 7", "}")
		if s.tryWaitFor("In [3]:", 20*time.Second) {
			break
		}
		if attempt == 2 {
			t.Fatalf("multi-line input never ran; the screen shows:\n%s", s.screen())
		}
		exec.Command("tmux", "send-keys", "-t", s.name, "C-c").Run()
		time.Sleep(500 * time.Millisecond)
	}
	s.typeLine("seven() * mpi.Size()")
	s.waitFor("]: 28", 30*time.Second)

	s.typeLine("exit")
	deadline := time.Now().Add(30 * time.Second)
	for len(processesOf(binary)) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if pids := processesOf(binary); len(pids) > 0 {
		t.Errorf("kernel processes left after the console exited: %v", pids)
	}
}

func getenv(t *testing.T, k string) string {
	v, ok := os.LookupEnv(k)
	if !ok {
		t.Fatalf("%s not set", k)
	}
	return v
}
