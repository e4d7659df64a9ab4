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

// TestBadFlagUnderLauncher: a mistyped flag in a 32-rank job prints the
// mistake and the usage once, and the job ends with status 2. Before,
// every rank printed the usage and exited with status 2, and OpenMPI's
// mpirun, with 32 or more processes failing together, never ended.
func TestBadFlagUnderLauncher(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	argv := mpirunArgs(32, "--log-levl", "debug")
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("the launcher did not end within 90 s\nstderr:\n%s", stderr.String())
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Errorf("exit: %v, want status 2\nstderr:\n%s", err, stderr.String())
	}
	all := stdout.String() + stderr.String()
	if n := strings.Count(all, "gompi-kernel: flag provided but not defined: -log-levl"); n != 1 {
		t.Errorf("the mistake was reported %d times, want once:\n%s", n, all)
	}
	if n := strings.Count(all, "Usage:"); n != 1 {
		t.Errorf("the usage was printed %d times, want once:\n%s", n, all)
	}
}
