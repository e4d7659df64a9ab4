package tests

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// byName runs tests/py/by_name.py: jupyter_client starts the kernelspec
// called name, runs code as one cell and shuts the kernel down.
type byNameResult struct {
	Error  string   `json:"error"`
	Status string   `json:"status"`
	Stdout string   `json:"stdout"`
	Stderr string   `json:"stderr"`
	Argv   []string `json:"argv"`
}

func byName(t *testing.T, env []string, name, code string) byNameResult {
	t.Helper()
	cmd := exec.Command(python, filepath.Join(repoDir, "tests", "py", "by_name.py"), name, code)
	cmd.Env = env
	var errb strings.Builder
	cmd.Stderr = &errb
	out, err := cmd.Output()
	var res byNameResult
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		t.Fatalf("by_name.py: %v, %v\nstdout:\n%s\nstderr:\n%s", err, jerr, out, errb.String())
	}
	if res.Error != "" {
		t.Fatalf("jupyter_client could not start %s: %s\nkernel's stderr:\n%s", name, res.Error, errb.String())
	}
	return res
}

// TestSiteKernelspec installs a kernelspec as a site would, into a private
// prefix that Jupyter finds through JUPYTER_PATH, with a hostfile and
// launcher arguments, and runs a cell through it with jupyter_client: the
// hostfile and the arguments reach mpirun (-x sets a variable every rank
// sees), every rank answers, and nothing is left running afterwards.
func TestSiteKernelspec(t *testing.T) {
	prefix, work := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "hosts"), []byte("localhost slots=4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	install := exec.Command(binary, "install", "--prefix", prefix, "--name", "gompi-site", "--ranks", "4",
		"--launcher", "mpirun", "--hostfile", "hosts", "--launcher-arg=-x", "--launcher-arg", "GOMPI_SITE=from-the-kernelspec")
	install.Dir = work // the hostfile is named relative to where install runs
	out, err := install.CombinedOutput()
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	hosts := filepath.Join(work, "hosts")
	if !strings.Contains(string(out), "--hostfile "+hosts+" -x GOMPI_SITE=from-the-kernelspec "+binary) {
		t.Errorf("install does not show the hostfile and launcher arguments in the command:\n%s", out)
	}
	env := append(os.Environ(), "JUPYTER_PATH="+filepath.Join(prefix, "share", "jupyter"),
		"JUPYTER_DATA_DIR="+t.TempDir(), "JUPYTER_RUNTIME_DIR="+t.TempDir())
	res := byName(t, env, "gompi-site", `fmt.Println("rank", mpi.Rank(), "of", mpi.Size(), os.Getenv("GOMPI_SITE"))`)
	if res.Status != "ok" {
		t.Fatalf("cell status %q, stderr %q", res.Status, res.Stderr)
	}
	for r := 0; r < 4; r++ {
		if want := fmt.Sprintf("rank %d of 4 from-the-kernelspec", r); !printedBy(res.Stdout, r, want) {
			t.Errorf("rank %d did not print %q:\n%s", r, want, res.Stdout)
		}
	}
	if got := strings.Join(res.Argv, " "); !strings.Contains(got, "--hostfile "+hosts) {
		t.Errorf("jupyter_client ran %s, without the hostfile", got)
	}
	noProcessesLeft(t)
}

// noProcessesLeft waits a little for the test binary's processes to end.
func noProcessesLeft(t *testing.T) {
	t.Helper()
	var left []int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if left = processesOf(binary); len(left) == 0 {
			return
		}
	}
	t.Errorf("processes of %s left: %v", binary, left)
}

// TestRankZeroOnWrongHost: a connection file names an address that is not
// this host's, as when a launcher puts rank 0 on another node than the
// frontend's. Rank 0 says at once which host it is on, with its
// addresses, the ip the file names and what to do; mpirun ends promptly
// with every rank.
func TestRankZeroOnWrongHost(t *testing.T) {
	conn := filepath.Join(t.TempDir(), "kernel.json")
	file := `{"transport": "tcp", "ip": "10.255.255.1", "shell_port": 50001, "iopub_port": 50002, "stdin_port": 50003,
		"control_port": 50004, "hb_port": 50005, "key": "k", "signature_scheme": "hmac-sha256"}`
	if err := os.WriteFile(conn, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	argv := mpirunArgs(4, "--connection-file", conn)
	cmd := exec.Command(argv[0], argv[1:]...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("mpirun exited 0; want a failure")
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("mpirun still running after 30 s\nstderr:\n%s", stderr.String())
	}
	took := time.Since(start)
	if took > 15*time.Second {
		t.Errorf("mpirun took %v to end; want it to end at once", took)
	}
	host, _ := os.Hostname()
	want := []string{"The connection file " + conn + " names ip 10.255.255.1, which is not an address of this host, " + host + " (",
		"What to do:", "--ip", "on its own host when the hostfile or --host names it"}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
				want = append(want, n.IP.String())
			}
		}
	}
	for _, w := range want {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
		}
	}
	t.Logf("mpirun ended after %v", took.Round(time.Millisecond))
	noProcessesLeft(t)
}

// TestRankZeroOnAnotherNode is the mistake as a site makes it: a
// kernelspec whose hostfile names only the compute node, nodeB, so that
// OpenMPI puts rank 0 there (it would put it on its own host, had the
// hostfile named that), while the notebook server that starts it (and
// writes a connection file for 127.0.0.1) runs on nodeA. Rank 0, on nodeB, says so
// at once instead of leaving jupyter_client to time out, and the job ends
// on both nodes.
func TestRankZeroOnAnotherNode(t *testing.T) {
	nodes := upTwoNodes(t)
	prefix, work := t.TempDir(), t.TempDir()
	hostfile := filepath.Join(work, "hosts")
	if err := os.WriteFile(hostfile, []byte("nodeB slots=4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	flags, err := nodes.cmd("flags").Output()
	if err != nil {
		t.Fatalf("two-nodes.sh flags: %v", err)
	}
	args := []string{"install", "--prefix", prefix, "--name", "gompi-nodes", "--ranks", "4", "--hostfile", hostfile}
	lines := strings.Fields(string(flags))
	for i := 0; i < len(lines); i++ {
		switch lines[i] {
		case "--hostfile":
			i++ // ours instead
		case "--oversubscribe", "--bind-to", "none": // install writes these itself
		default:
			args = append(args, "--launcher-arg="+lines[i])
		}
	}
	if out, err := exec.Command(binary, args...).CombinedOutput(); err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	cmd := nodes.cmd("run", "env", "JUPYTER_PATH="+filepath.Join(prefix, "share", "jupyter"),
		"JUPYTER_DATA_DIR="+t.TempDir(), "JUPYTER_RUNTIME_DIR="+t.TempDir(),
		python, filepath.Join(repoDir, "tests", "py", "by_name.py"), "gompi-nodes", `fmt.Println("unreachable")`)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	out, _ := cmd.Output()
	took := time.Since(start)
	var res byNameResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("by_name.py: %v\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	if res.Error == "" {
		t.Fatalf("the kernel came up with rank 0 on nodeB and a 127.0.0.1 connection file: %+v", res)
	}
	for _, w := range []string{"names ip 127.0.0.1", "rank 0 runs on another host, nodeB (", "10.77.0.2",
		"mpirun's host, 10.77.0.1", "What to do:", "on its own host when the hostfile or --host names it"} {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("the kernel's stderr lacks %q:\n%s", w, stderr.String())
		}
	}
	// jupyter_client notices a dead kernel within seconds; its own
	// timeout would be 60 s.
	if took > 30*time.Second {
		t.Errorf("jupyter_client gave up after %v (%s)", took, res.Error)
	}
	t.Logf("jupyter_client: %s, after %v; the kernel said:\n%s", res.Error, took.Round(time.Millisecond), stderr.String())
	nodes.noLeftovers()
}
