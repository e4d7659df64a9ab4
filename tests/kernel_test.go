package tests

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCommandLine(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		code     int
		stdout   string
		stderr   string
		noStdout bool
	}{
		{args: []string{"--help"}, code: 0, stdout: "gompi-kernel install"},
		{args: []string{"help"}, code: 0, stdout: "--connection-file"},
		{args: []string{"version"}, code: 0, stdout: "gompi-kernel "},
		{args: []string{"--no-such-flag"}, code: 2, stderr: "flag provided but not defined", noStdout: true},
		{args: []string{"frobnicate"}, code: 2, stderr: `unknown command "frobnicate"`, noStdout: true},
		{args: []string{"install", "--ranks", "0"}, code: 2, stderr: "--ranks must be at least 1"},
		{args: []string{"install", "--user", "--prefix", "/tmp/x"}, code: 2, stderr: "exclude each other"},
		{args: []string{"--log-level", "loud"}, code: 2, stderr: "bad --log-level"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCommand(t, exec.Command(binary, tc.args...))
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout, stderr)
			}
			if !strings.Contains(stdout, tc.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.stdout, stdout)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr)
			}
			if tc.noStdout && len(stdout) > 0 {
				t.Errorf("usage error wrote to stdout: %s", stdout)
			}
			if tc.code == 2 && !strings.Contains(stderr, "Usage:") && strings.Contains(tc.stderr, "flag") {
				t.Errorf("usage error without usage text: %s", stderr)
			}
		})
	}
}

// TestHandStartedKernel is `gompi-kernel` typed in a shell: it writes its
// own connection file (0600, in $JUPYTER_RUNTIME_DIR), prints the console
// line, serves a client, and removes the file when shut down.
func TestHandStartedKernel(t *testing.T) {
	for _, ranks := range []int{0, 4} {
		t.Run(fmt.Sprintf("ranks=%d", ranks), func(t *testing.T) {
			runtimeDir := t.TempDir()
			var argv []string
			if ranks == 0 {
				argv = []string{binary}
			} else {
				argv = mpirunArgs(ranks)
			}
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Env = append(os.Environ(), "JUPYTER_RUNTIME_DIR="+runtimeDir)
			// The kernel writes these while the test reads them: a plain
			// bytes.Buffer would be a data race.
			var out, errb lockedBuffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			defer func() {
				select {
				case <-done:
				default:
					cmd.Process.Kill()
				}
			}()
			re := regexp.MustCompile(`jupyter console --existing (\S+)`)
			var conn string
			for deadline := time.Now().Add(60 * time.Second); conn == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				if m := re.FindStringSubmatch(out.String()); m != nil {
					conn = m[1]
				}
			}
			if conn == "" {
				t.Fatalf("no console line printed; stdout:\n%s\nstderr:\n%s", out.String(), errb.String())
			}
			if filepath.Dir(conn) != runtimeDir {
				t.Errorf("connection file %s not in JUPYTER_RUNTIME_DIR %s", conn, runtimeDir)
			}
			st, err := os.Stat(conn)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("connection file mode %v, want 0600", st.Mode().Perm())
			}
			res := drive(t, conn, exec1(`fmt.Println("hi from", mpi.Rank())`), action{"do": "shutdown"})
			want := "hi from 0"
			if ranks > 0 {
				want = "[3] hi from 3"
			}
			if got := res[0].stream("stdout"); !strings.Contains(got, want) {
				t.Errorf("stdout %q lacks %q", got, want)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("kernel exit: %v\nstderr:\n%s", err, errb.String())
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("kernel still running 30 s after shutdown\nstderr:\n%s", errb.String())
			}
			if _, err := os.Stat(conn); !os.IsNotExist(err) {
				t.Errorf("connection file %s left behind after shutdown (%v)", conn, err)
			}
		})
	}
}

// TestFourRanks is the scenario on a real `mpirun -n 4` kernel.
func TestFourRanks(t *testing.T) {
	k := startKernel(t, 4)
	res := drive(t, k.connFile,
		exec1(`fmt.Println("hi from", mpi.Rank())`),                                        // 0
		exec1(`if mpi.Rank() == 2 { panic("x") }`),                                         // 1
		exec1(`mpi.Size()`),                                                                // 2
		action{"do": "execute", "code": `for {}`, "interrupt_after": 1.0},                  // 3
		exec1(`"alive after interrupt"`),                                                   // 4
		action{"do": "execute", "code": `time.Sleep(2 * time.Second)`, "probe_after": 0.5}, // 5
		exec1("import \"strings\"\nfunc shout(s string) string { return strings.ToUpper(s) }\nx := shout(\"rank\")\nfmt.Println(x, mpi.Rank())\nos.Stdout.WriteString(\"direct\\n\")\nfmt.Fprintln(os.Stderr, \"err\", mpi.Rank())"), // 6
		exec1(`os.Exit(3)`),         // 7
		exec1(`x + "!"`),            // 8
		exec1(`log.Fatal("fatal")`), // 9
		exec1(`mpi.Rank() * 10`),    // 10
		action{"do": "shutdown"},
	)
	t.Logf("trivial cell round trip at 4 ranks: %.1f ms", res[2].Seconds*1000)

	out := res[0].stream("stdout")
	for r := 0; r < 4; r++ {
		if want := fmt.Sprintf("[%d] hi from %d\n", r, r); !strings.Contains(out, want) {
			t.Errorf("cell 0: stdout lacks %q:\n%s", want, out)
		}
	}

	if res[1].status() != "error" {
		t.Errorf("panic on rank 2: reply status %q", res[1].status())
	}
	errs := res[1].of("error")
	if len(errs) != 1 {
		t.Fatalf("panic on rank 2: %d error messages, want exactly 1: %+v", len(errs), res[1].Msgs)
	}
	if ev := errs[0].Content["evalue"].(string); !strings.Contains(ev, "rank 2") || !strings.Contains(ev, "x") || strings.Contains(ev, "rank 1") {
		t.Errorf("panic on rank 2: evalue %q should name rank 2 (only) and the panic", ev)
	}

	if got := textResult(res[2]); got != "4" {
		t.Errorf("mpi.Size() after the panic = %q, want 4", got)
	}

	if res[3].status() != "error" || res[3].Reply["ename"] != "Interrupted" {
		t.Errorf("interrupted for{}: reply %v", res[3].Reply)
	} else {
		ir := res[3].of("interrupt_reply")
		if len(ir) != 1 || ir[0].Content["status"] != "ok" {
			t.Errorf("interrupt_reply on control: %+v", ir)
		}
		t.Logf("interrupt of for{} on 4 ranks: execute_reply %.0f ms after the interrupt", (res[3].Seconds-1.0)*1000)
	}
	if got := textResult(res[4]); got != `"alive after interrupt"` {
		t.Errorf("cell after interrupt = %q", got)
	}

	probe := res[5].of("probe")
	if len(probe) != 1 || probe[0].Content["beating"] != true || probe[0].Content["control_reply"] != "kernel_info_reply" || probe[0].Content["parent"] != true {
		t.Errorf("heartbeat/control while a cell runs: %+v", probe)
	}

	out6, err6 := res[6].stream("stdout"), res[6].stream("stderr")
	for r := 0; r < 4; r++ {
		if want := fmt.Sprintf("[%d] RANK %d\n", r, r); !strings.Contains(out6, want) {
			t.Errorf("cell 6: stdout lacks %q:\n%s", want, out6)
		}
		if !printedBy(out6, r, "direct") { // alike on every rank: collapsed
			t.Errorf("cell 6: stdout lacks rank %d's \"direct\":\n%s", r, out6)
		}
		if want := fmt.Sprintf("[%d] err %d\n", r, r); !strings.Contains(err6, want) {
			t.Errorf("cell 6: stderr lacks %q:\n%s", want, err6)
		}
	}

	if res[7].status() != "error" || !strings.Contains(fmt.Sprint(res[7].Reply["evalue"]), "3") {
		t.Errorf("os.Exit(3): reply %v", res[7].Reply)
	}
	if got := textResult(res[8]); got != `"RANK!"` {
		t.Errorf("state after os.Exit: %q", got)
	}
	if res[9].status() != "error" || !strings.Contains(res[9].stream("stderr"), "fatal") {
		t.Errorf("log.Fatal: reply %v stderr %q", res[9].Reply, res[9].stream("stderr"))
	}
	if got := textResult(res[10]); got != "0" {
		t.Errorf("the result shown is rank 0's: %q", got)
	}

	if err := k.wait(30 * time.Second); err != nil {
		t.Fatalf("mpirun after shutdown: %v\nstderr:\n%s", err, k.stderr)
	}
	if _, err := os.Stat(k.connFile); !os.IsNotExist(err) {
		t.Errorf("the connection file the kernel wrote is still there: %v", err)
	}
	if pids := processesOf(binary); len(pids) > 0 {
		t.Errorf("processes left after shutdown: %v", pids)
	}
}

func textResult(r result) string {
	rs := r.of("execute_result")
	if len(rs) != 1 {
		return fmt.Sprintf("<%d execute_results; reply %v>", len(rs), r.Reply)
	}
	data, _ := rs[0].Content["data"].(map[string]any)
	s, _ := data["text/plain"].(string)
	return s
}

// lockedBuffer is a bytes.Buffer that a process may write while a test
// reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
