package tests

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tools the browser test drives: Debian's chromium and classic
// notebook (scripts/setup.sh installs them), Node.js and npm for
// puppeteer-core (tests/browser/package-lock.json).
const (
	chromium        = "/usr/bin/chromium"
	jupyterNotebook = "/usr/bin/jupyter-notebook"
)

// TestBrowser uses the gompi kernel as a person would: Debian's chromium,
// driven by puppeteer-core (tests/browser/notebook.js), opens Debian's
// classic Jupyter Notebook served on 127.0.0.1 with a token, creates a
// notebook with the 4-rank kernel from the New menu, types cells and runs
// them with Shift+Enter (labelled output, HTML, a plot, a progress bar
// updated in place, a red error naming the rank, the ■ button during a
// sleep, Tab and Shift+Tab, an input box), restarts the kernel, uses Close
// and Halt (no kernel process may be left), and runs every notebook in
// notebooks/ with Run All (no error output). One screenshot per step goes
// to a directory that is kept and logged.
func TestBrowser(t *testing.T) {
	requireBrowserTools(t)
	npmCI(t)

	shots, err := os.MkdirTemp("", "gompi-browser-shots-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots: %s", shots)
	t.Cleanup(func() { t.Logf("screenshots: %s", shots) })

	// Jupyter's own directories, private to this test: the kernelspec
	// "gompi" (the name the notebooks in notebooks/ ask for) at 4 ranks.
	installSpec(t, "gompi", 4)
	t.Setenv("JUPYTER_CONFIG_DIR", t.TempDir())
	t.Setenv("JUPYTER_PATH", "")
	t.Setenv("IPYTHONDIR", t.TempDir())

	// The server's root: a copy of notebooks/, so that nothing the
	// notebook saves lands in the repository.
	root := t.TempDir()
	notebooks := copyNotebooks(t, root)

	srv := startNotebookServer(t, root)
	t.Logf("notebook server %s (pid %d)", srv.url, srv.cmd.Process.Pid)

	// Chromium runs in a process group of its own: whatever happens to
	// node, no browser outlives the test.
	profile := t.TempDir()
	t.Cleanup(func() {
		for _, pid := range processesOf(profile) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 7*time.Minute)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(repoDir, "tests", "browser", "notebook.js"))
	cmd.Dir = filepath.Join(repoDir, "tests", "browser")
	cmd.Env = append(os.Environ(),
		"NB_URL="+srv.url,
		"NB_TOKEN="+srv.token,
		"NB_KERNEL=gompi",
		"NB_NOTEBOOKS="+strings.Join(notebooks, ","),
		"NB_SHOTS="+shots,
		"NB_PROFILE="+profile,
		"NB_BINARY="+binary,
		"CHROMIUM="+chromium,
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("node: %v", err)
	}
	var failed []string
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		t.Log(line)
		if strings.HasPrefix(line, "FAIL ") {
			failed = append(failed, line)
		}
	}
	err = cmd.Wait()
	t.Logf("browser session took %v", time.Since(start).Round(time.Second))
	if ctx.Err() != nil {
		t.Errorf("the browser session did not end within 7 minutes")
	}
	if err != nil || len(failed) > 0 {
		t.Errorf("browser steps failed (node: %v):\n%s\nnotebook server log (last lines):\n%s",
			err, strings.Join(failed, "\n"), lastLines(srv.log.String(), 40))
	}
	if left := processesOf(binary); len(left) > 0 {
		t.Errorf("kernel processes left after the browser session: %v", left)
	}
}

// requireBrowserTools fails (never skips) when a tool is missing.
func requireBrowserTools(t *testing.T) {
	t.Helper()
	var missing []string
	for _, f := range []string{chromium, jupyterNotebook} {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, f)
		}
	}
	for _, c := range []string{"node", "npm"} {
		if _, err := exec.LookPath(c); err != nil {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("the browser test needs %s: run scripts/setup.sh (make test does)", strings.Join(missing, ", "))
	}
}

// npmCI installs tests/browser's locked packages (puppeteer-core, which
// never downloads a browser; the test uses Debian's chromium) unless the
// locked version is already there.
func npmCI(t *testing.T) {
	t.Helper()
	dir := filepath.Join(repoDir, "tests", "browser")
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		t.Fatalf("package-lock.json: %v", err)
	}
	want := lock.Packages["node_modules/puppeteer-core"].Version
	var have struct {
		Version string `json:"version"`
	}
	if b, err := os.ReadFile(filepath.Join(dir, "node_modules", "puppeteer-core", "package.json")); err == nil {
		json.Unmarshal(b, &have)
	}
	if want != "" && have.Version == want {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PUPPETEER_SKIP_DOWNLOAD=1", "PUPPETEER_SKIP_CHROMIUM_DOWNLOAD=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in tests/browser: %v\n%s", err, out)
	}
	t.Logf("npm ci: puppeteer-core %s installed in tests/browser/node_modules", want)
}

// copyNotebooks copies notebooks/*.ipynb into dir, without their saved
// outputs and execution counts (so that what the browser shows after Run
// All is this run's), and returns their names.
func copyNotebooks(t *testing.T, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(repoDir, "notebooks", "*.ipynb"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no notebooks in notebooks/: %v", err)
	}
	sort.Strings(paths)
	var names []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var nb map[string]any
		if err := json.Unmarshal(b, &nb); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		cells, _ := nb["cells"].([]any)
		for _, c := range cells {
			if cell, ok := c.(map[string]any); ok && cell["cell_type"] == "code" {
				cell["outputs"] = []any{}
				cell["execution_count"] = nil
			}
		}
		if b, err = json.MarshalIndent(nb, "", " "); err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(p)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	return names
}

type notebookServer struct {
	cmd   *exec.Cmd
	url   string
	token string
	log   *syncBuffer
	done  chan struct{}
}

// startNotebookServer starts Debian's classic notebook on 127.0.0.1, a free
// port and a random token, serving root, and waits until it answers. The
// server and every kernel it started are killed in cleanup.
func startNotebookServer(t *testing.T, root string) *notebookServer {
	t.Helper()
	tok := make([]byte, 24)
	if _, err := rand.Read(tok); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	s := &notebookServer{
		url:   "http://127.0.0.1:" + strconv.Itoa(port),
		token: hex.EncodeToString(tok),
		log:   &syncBuffer{},
		done:  make(chan struct{}),
	}
	s.cmd = exec.Command(jupyterNotebook,
		"--no-browser", "--allow-root",
		"--ip=127.0.0.1", "--port="+strconv.Itoa(port), "--port-retries=0",
		"--NotebookApp.token="+s.token,
		"--notebook-dir="+root,
	)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", jupyterNotebook, err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		// The server first (it shuts its kernels down on SIGTERM), then
		// whatever is left: kernels run in sessions of their own.
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.done
		}
		for _, pid := range processesOf(binary) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequest("GET", s.url+"/api/status", nil)
		req.Header.Set("Authorization", "token "+s.token)
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-s.done:
			t.Fatalf("the notebook server exited:\n%s", s.log.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the notebook server does not answer on %s after 60 s:\n%s", s.url, s.log.String())
		}
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer collects a process's output written from its own goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
