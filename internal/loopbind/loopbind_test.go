package loopbind

import (
	"bufio"
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
	script := `
import os, socket, subprocess, sys
a = socket.socket(socket.AF_INET); a.bind(("", 0)); a.listen()
b = socket.socket(socket.AF_INET6); b.bind(("::", 0)); b.listen()
c = socket.socket(socket.AF_INET); c.bind(("127.0.0.1", 0)); c.listen()
print(a.getsockname()[0], b.getsockname()[0], c.getsockname()[0])
print(subprocess.run(["sh", "-c", "echo child:$LD_PRELOAD"], capture_output=True, text=True).stdout.strip())
`
	cmd := exec.Command("/usr/bin/python3", "-c", script)
	cmd.Env = Preload(append(os.Environ(), "LD_PRELOAD="), lib)
	done := make(chan struct{})
	var out []byte
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("python did not finish")
	}
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Scan()
	if got := sc.Text(); got != "127.0.0.1 ::1 127.0.0.1" {
		t.Errorf("bound addresses %q, want 127.0.0.1 ::1 127.0.0.1", got)
	}
	sc.Scan()
	if got := sc.Text(); got != "child:" {
		t.Errorf("the child's LD_PRELOAD: %q, want it empty", got)
	}
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
