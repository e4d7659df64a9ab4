package tests

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runJob runs the kernel binary on n ranks with args, as a batch job would,
// and returns what it printed (stdout and stderr together) and its exit
// status. The job must end by itself within 90 s.
func runJob(t *testing.T, n int, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	argv := mpirunArgs(n, args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%v: the job did not end within 90 s\noutput:\n%s", args, out.String())
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &exit):
		return out.String(), exit.ExitCode()
	}
	t.Fatalf("%v: %v", argv, err)
	return "", 0
}

// TestBadFlagUnderLauncher: a mistyped flag in a 32-rank job prints the
// mistake and the usage once, and the job ends with status 2. Before,
// every rank printed the usage and exited with status 2, and OpenMPI's
// mpirun, with 32 or more processes failing together, never ended.
func TestBadFlagUnderLauncher(t *testing.T) {
	out, code := runJob(t, 32, "--log-levl", "debug")
	if code != 2 {
		t.Errorf("exit status %d, want 2\noutput:\n%s", code, out)
	}
	if n := strings.Count(out, "gompi-kernel: flag provided but not defined: -log-levl"); n != 1 {
		t.Errorf("the mistake was reported %d times, want once:\n%s", n, out)
	}
	if n := strings.Count(out, "Usage:"); n != 1 {
		t.Errorf("the usage was printed %d times, want once:\n%s", n, out)
	}
}

// TestScriptNotThere: a 32-rank script job given a path that is not there
// says so once and ends with status 2. Before, every rank failed to read
// it before MPI started, and mpirun never ended.
func TestScriptNotThere(t *testing.T) {
	path := t.TempDir() + "/absent.go"
	out, code := runJob(t, 32, "run", path)
	if code != 2 {
		t.Errorf("exit status %d, want 2\noutput:\n%s", code, out)
	}
	if n := strings.Count(out, "read script: open "+path+": no such file or directory"); n != 1 {
		t.Errorf("the missing script was reported %d times, want once:\n%s", n, out)
	}
}
