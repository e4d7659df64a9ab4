package loopbind

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestShimBindsLoopback: a program that binds every address (Python's
// socket server on "" and "::") listens on loopback only under the shim,
// and the shim is gone from its children's environment.
func TestShimBindsLoopback(t *testing.T) {
	lib, err := Library(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got := bound(t, lib, nil); got != "127.0.0.1 ::1 127.0.0.1\nchild:" {
		t.Errorf("bound addresses, then the child's LD_PRELOAD:\n%s\nwant 127.0.0.1 ::1 127.0.0.1, then none", got)
	}
	// The program's own arguments (the kernel's -f FILE) are not the
	// launcher's.
	if got := bound(t, lib, nil, "/opt/bin/gompi-kernel", "-f", "kernel.json"); got != "127.0.0.1 ::1 127.0.0.1\nchild:" {
		t.Errorf("with the kernel's -f after it: %q", got)
	}
}

// TestShimStandsAside: given other hosts (an argument naming hosts, or a
// resource manager's allocation), mpirun's daemons must reach it: the shim
// changes nothing.
func TestShimStandsAside(t *testing.T) {
	lib, err := Library(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env, args []string
	}{
		{args: []string{"--hostfile", "hosts"}},
		{args: []string{"-H", "a,b"}},
		{args: []string{"--host=a,b"}},
		{args: []string{"-f", "hosts"}}, // Hydra's hostfile
		{env: []string{"SLURM_JOB_ID=7"}},
		{env: []string{"OMPI_MCA_orte_default_hostfile=/x"}},
	} {
		got := bound(t, lib, tc.env, tc.args...)
		if got != "0.0.0.0 :: 127.0.0.1\nchild:" {
			t.Errorf("env %v, args %v: %q, want the wildcards kept", tc.env, tc.args, got)
		}
	}
}

// bound runs a program (Python) that binds every address of both families
// and loopback under the shim, and returns the addresses it got and, on a
// second line, what its child sees of LD_PRELOAD.
func bound(t *testing.T, lib string, env []string, args ...string) string {
	t.Helper()
	script := `
import os, socket, subprocess, sys
a = socket.socket(socket.AF_INET); a.bind(("", 0)); a.listen()
b = socket.socket(socket.AF_INET6); b.bind(("::", 0)); b.listen()
c = socket.socket(socket.AF_INET); c.bind(("127.0.0.1", 0)); c.listen()
print(a.getsockname()[0], b.getsockname()[0], c.getsockname()[0])
print(subprocess.run(["sh", "-c", "echo child:$LD_PRELOAD"], capture_output=True, text=True).stdout.strip())
`
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", append([]string{"-c", script}, args...)...)
	var base []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLURM_") && !strings.HasPrefix(kv, "OMPI_MCA_orte_default_hostfile=") {
			base = append(base, kv)
		}
	}
	cmd.Env = Preload(append(base, env...), lib)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestPreload(t *testing.T) {
	got := Preload([]string{"A=1", "LD_PRELOAD=/x.so"}, "/lib.so")
	if strings.Join(got, " ") != "A=1 LD_PRELOAD=/lib.so:/x.so" {
		t.Errorf("Preload: %q", got)
	}
	got = Preload([]string{"A=1"}, "/lib.so")
	if strings.Join(got, " ") != "A=1 LD_PRELOAD=/lib.so" {
		t.Errorf("Preload: %q", got)
	}
}
