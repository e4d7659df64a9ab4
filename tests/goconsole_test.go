package tests

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestGoConsole is a person at `gompi-kernel console --ranks 4` in a real
// terminal (tmux): it starts its own 4-rank kernel, shows labelled output,
// completes with Tab, continues an unfinished block, stops a `for {}` with
// Ctrl-C on every rank and runs the next cell, shows an error in red,
// answers input, and quits with Ctrl-D leaving no process behind; its
// job listens on loopback only.
func TestGoConsole(t *testing.T) {
	runtimeDir := t.TempDir()
	env := []string{"JUPYTER_RUNTIME_DIR=" + runtimeDir,
		"OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1", "PATH=" + os.Getenv("PATH")}
	s := newTmux(t, env, binary+" console --ranks 4")
	t.Cleanup(func() {
		// A failed test leaves the console's kernel behind: end it.
		for _, pid := range processesOf(binary) {
			exec.Command("kill", "-9", fmt.Sprint(pid)).Run()
		}
	})
	s.waitFor("In [1]:", 90*time.Second)
	// Every rank is on this host: nothing of the job, mpirun included,
	// listens beyond loopback.
	checkJobListensOnLoopback(t)

	s.typeLine(`fmt.Println("hi from", mpi.Rank())`)
	for r := 0; r < 4; r++ {
		s.waitFor(fmt.Sprintf("[%d] hi from %d", r, r), 30*time.Second)
	}
	s.waitFor("In [2]:", 30*time.Second)

	// Tab asks the kernel (complete_request) and completes the name.
	s.keys("-l", "strings.ToUpp")
	s.keys("Tab")
	s.waitFor("In [2]: strings.ToUpper", 10*time.Second)
	s.typeLine(`("go")`)
	s.waitFor(`Out[2]: "GO"`, 30*time.Second)

	// An unfinished block continues on "...:" lines (is_complete_request).
	s.typeLine("func seven() int {")
	s.waitFor("   ...: ", 10*time.Second)
	s.typeLine("return 7")
	s.typeLine("}")
	s.waitFor("In [4]:", 30*time.Second)
	s.typeLine("seven() * mpi.Size()")
	s.waitFor("Out[4]: 28", 30*time.Second)

	// Ctrl-C stops a busy loop on every rank; the next cell runs.
	s.typeLine(`fmt.Println("spinning", mpi.Rank()); for {}`)
	s.waitFor("[3] spinning 3", 30*time.Second)
	s.keys("C-c")
	s.waitFor("Interrupted", 30*time.Second)
	s.waitFor("In [6]:", 30*time.Second)
	s.typeLine(`fmt.Println("after", mpi.Rank())`)
	s.waitFor("[3] after 3", 30*time.Second)

	// A rich output shows its text/plain, labelled with its rank.
	s.typeLine(`display.Markdown(fmt.Sprint("**md from ", mpi.Rank(), "**"))`)
	s.waitFor("[2] **md from 2**", 30*time.Second)

	// At the prompt, Ctrl-C drops the line being typed.
	s.keys("-l", "this line is dropped")
	s.waitFor("this line is dropped", 10*time.Second)
	s.keys("C-c")
	s.typeLine("1 + 2")
	s.waitFor("]: 3", 30*time.Second)

	// An error is red (ANSI, as IPython shows it) and names the ranks.
	s.typeLine(`panic(fmt.Errorf("bad %d", mpi.Rank()))`)
	s.waitFor("Panic: bad 3", 30*time.Second)
	if colored := s.screenEscapes(); !strings.Contains(colored, "\x1b[31mPanic") {
		t.Errorf("the error's name is not red:\n%q", colored)
	}

	// input_request: rank 0 reads a line the person types.
	s.typeLine(`var name string; fmt.Print("name? "); fmt.Scanln(&name); fmt.Println("hello", name)`)
	s.waitFor("[0] name? ", 30*time.Second)
	s.typeLine("Ann")
	s.waitFor("[0] hello Ann", 30*time.Second)

	// Ctrl-D asks, and quitting shuts the kernel down.
	s.waitFor("In [11]:", 30*time.Second)
	t.Logf("the console before Ctrl-D:\n%s", s.screen())
	s.keys("C-d")
	s.waitFor("Do you really want to exit ([y]/n)?", 10*time.Second)
	s.typeLine("y")
	deadline := time.Now().Add(30 * time.Second)
	for len(processesOf(binary)) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if pids := processesOf(binary); len(pids) > 0 {
		t.Errorf("processes left after the console quit: %v", pids)
	}
	if left, _ := os.ReadDir(runtimeDir); len(left) > 0 {
		t.Errorf("files left in the runtime dir: %v", left)
	}
}

// keys sends tmux key names (or, after "-l", literal text).
func (s *tmuxSession) keys(keys ...string) {
	s.t.Helper()
	args := append([]string{"send-keys", "-t", s.name}, keys...)
	if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
		s.t.Fatalf("send-keys %v: %v\n%s", keys, err, out)
	}
}

// screenEscapes is the screen with its colours as escape sequences.
func (s *tmuxSession) screenEscapes() string {
	out, _ := exec.Command("tmux", "capture-pane", "-p", "-e", "-J", "-S", "-200", "-t", s.name).Output()
	return string(out)
}

// TestGoConsoleExisting attaches `gompi-kernel console --existing FILE` to a
// kernel started with mpirun, as the hint the kernel prints suggests;
// quitting the console leaves the kernel running for the next client.
func TestGoConsoleExisting(t *testing.T) {
	k := startKernel(t, 2)
	env := []string{"OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1", "PATH=" + os.Getenv("PATH")}
	s := newTmux(t, env, binary+" console --existing "+k.connFile)
	s.waitFor("In [1]:", 60*time.Second)
	s.typeLine(`fmt.Println("attached", mpi.Rank())`)
	s.waitFor("[1] attached 1", 30*time.Second)
	s.waitFor("In [2]:", 30*time.Second)
	s.keys("C-d")
	s.waitFor("Do you really want to exit ([y]/n)?", 10*time.Second)
	s.typeLine("")
	if err := k.wait(2 * time.Second); err == nil {
		t.Errorf("the kernel exited with the console it did not start")
	}
	// The kernel still serves a second console.
	s2 := newTmux(t, env, binary+" console --existing "+k.connFile)
	s2.waitFor("In [2]:", 60*time.Second) // the kernel's count goes on
	s2.typeLine("mpi.Size()")
	s2.waitFor("Out[2]: 2", 30*time.Second)
}
