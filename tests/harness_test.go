// Package tests drives the real thing: the gompi-kernel binary under a real
// mpirun, talked to by real Jupyter clients (Debian's jupyter_client,
// jupyter_kernel_test, nbconvert, jupyter console) over real sockets.
package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gompi-kernel/gompi-kernel/internal/mpiimpl"
)

// python is Debian's interpreter: the Jupyter packages are installed for it,
// not for whatever python3 comes first on PATH.
const python = "/usr/bin/python3"

var (
	binary  string // the gompi-kernel built for this test run
	repoDir string
	// launcher starts MPI jobs of binary, with launcherFlags: the launcher
	// of the MPI this test was built for (OpenMPI's mpirun, or with -tags
	// mpich MPICH's mpiexec.mpich; internal/mpiimpl), which is the one
	// binary is linked against.
	launcher      string
	launcherFlags []string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	_, file, _, _ := runtime.Caller(0)
	repoDir = filepath.Dir(filepath.Dir(file))
	dir, err := os.MkdirTemp("", "gompi-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "gompi-kernel")
	// The kernel is built for the same MPI as this test binary.
	build := exec.Command("go", "build", "-tags", mpiimpl.BuildTags, "-o", binary, "./cmd/gompi-kernel")
	build.Dir = repoDir
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building gompi-kernel:", err)
		return 1
	}
	if launcher, err = mpiimpl.FindLauncher(); err != nil {
		fmt.Fprintln(os.Stderr, "make setup installs it:", err)
		return 1
	}
	launcherFlags = mpiimpl.LauncherFlags(launcher)
	// OpenMPI refuses to run as root without these; MPICH ignores them.
	os.Setenv("OMPI_ALLOW_RUN_AS_ROOT", "1")
	os.Setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
	return m.Run()
}

// mpirunArgs starts n ranks of the kernel binary with args.
func mpirunArgs(n int, args ...string) []string {
	argv := append([]string{launcher, "-n", strconv.Itoa(n)}, launcherFlags...)
	return append(append(argv, binary), args...)
}

// kernelProc is a kernel started by hand, as a user would with mpirun.
type kernelProc struct {
	t        *testing.T
	cmd      *exec.Cmd
	connFile string
	stdout   *bytes.Buffer
	stderr   *bytes.Buffer
	done     chan struct{}
	err      error
}

// startKernel runs `mpirun -n ranks gompi-kernel -f FILE` (or the binary
// alone for ranks == 0) and waits until the connection file exists.
func startKernel(t *testing.T, ranks int, extra ...string) *kernelProc {
	t.Helper()
	dir := t.TempDir()
	conn := filepath.Join(dir, "kernel.json")
	args := append([]string{"--connection-file", conn}, extra...)
	var argv []string
	if ranks == 0 {
		argv = append([]string{binary}, args...)
	} else {
		argv = mpirunArgs(ranks, args...)
	}
	k := &kernelProc{t: t, connFile: conn, stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, done: make(chan struct{})}
	k.cmd = exec.Command(argv[0], argv[1:]...)
	k.cmd.Stdout, k.cmd.Stderr = k.stdout, k.stderr
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := k.cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", argv, err)
	}
	go func() { k.err = k.cmd.Wait(); close(k.done) }()
	t.Cleanup(k.logOnFailure)
	t.Cleanup(k.kill)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(conn); err == nil {
			break
		}
		select {
		case <-k.done:
			t.Fatalf("kernel exited before writing %s: %v\nstdout:\n%s\nstderr:\n%s", conn, k.err, k.stdout, k.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection file after 60 s\nstderr:\n%s", k.stderr)
		}
	}
	return k
}

// wait waits for the kernel to exit by itself and returns its error.
func (k *kernelProc) wait(timeout time.Duration) error {
	select {
	case <-k.done:
		return k.err
	case <-time.After(timeout):
		return fmt.Errorf("kernel still running after %v", timeout)
	}
}

// logOnFailure shows the kernel's own output when the test failed: a
// frontend's timeout alone does not say which rank stopped where. It is
// registered before kill, so it runs after it, once the output is complete.
func (k *kernelProc) logOnFailure() {
	if !k.t.Failed() {
		return
	}
	<-k.done
	k.t.Logf("the kernel's stderr (mpirun %v):\n%s", k.err, k.stderr)
}

// kill ends the kernel's whole process group if it is still there.
func (k *kernelProc) kill() {
	select {
	case <-k.done:
		return
	default:
	}
	syscall.Kill(-k.cmd.Process.Pid, syscall.SIGKILL)
	<-k.done
}

// action is one step for tests/py/drive.py.
type action map[string]any

// msg is an iopub message as drive.py reports it.
type msg struct {
	Type     string         `json:"type"`
	Content  map[string]any `json:"content"`
	Metadata map[string]any `json:"metadata"`
	T        float64        `json:"t"`
}

// result is drive.py's account of one action.
type result struct {
	Reply   map[string]any `json:"reply"`
	Msgs    []msg          `json:"msgs"`
	Seconds float64        `json:"seconds"`
	Beating bool           `json:"beating"`
	Channel string         `json:"channel"`
	Parent  bool           `json:"parent"`
}

// stream joins the text of every stream message called name.
func (r result) stream(name string) string {
	var b strings.Builder
	for _, m := range r.Msgs {
		if m.Type == "stream" && m.Content["name"] == name {
			b.WriteString(m.Content["text"].(string))
		}
	}
	return b.String()
}

// of returns the messages of type t.
func (r result) of(t string) []msg {
	var out []msg
	for _, m := range r.Msgs {
		if m.Type == t {
			out = append(out, m)
		}
	}
	return out
}

func (r result) status() string { s, _ := r.Reply["status"].(string); return s }

// drive runs actions against the kernel through jupyter_client.
func drive(t *testing.T, connFile string, actions ...action) []result {
	t.Helper()
	return runDrive(t, exec.Command(python, filepath.Join(repoDir, "tests", "py", "drive.py"), connFile), actions)
}

// runDrive runs cmd, a drive.py command line (here, or inside a node), with
// actions on its standard input, and decodes its results.
func runDrive(t *testing.T, cmd *exec.Cmd, actions []action) []result {
	t.Helper()
	in, err := json.Marshal(actions)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = bytes.NewReader(in)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("drive.py: %v\nstderr:\n%s", err, errb.String())
	}
	var res []result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("drive.py output: %v\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	return res
}

func exec1(code string) action { return action{"do": "execute", "code": code} }

// installSpec installs a kernelspec for the test binary into a private
// JUPYTER_DATA_DIR and points Jupyter there.
func installSpec(t *testing.T, name string, ranks int) {
	t.Helper()
	data := t.TempDir()
	t.Setenv("JUPYTER_DATA_DIR", data)
	t.Setenv("JUPYTER_RUNTIME_DIR", t.TempDir())
	out, err := exec.Command(binary, "install", "--ranks", strconv.Itoa(ranks), "--name", name).CombinedOutput()
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
}

// processesOf lists the pids of running processes whose command line holds
// the test binary's path: after a shutdown there must be none.
func processesOf(path string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if bytes.Contains(stat, []byte(") Z ")) {
			continue // a zombie waiting for its parent is not running
		}
		if bytes.Contains(b, []byte(path)) {
			pids = append(pids, pid)
		}
	}
	return pids
}
