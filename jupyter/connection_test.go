package jupyter

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestNewConnectionInfo(t *testing.T) {
	c, err := NewConnectionInfo("")
	if err != nil {
		t.Fatal(err)
	}
	if c.IP != "127.0.0.1" || c.Transport != "tcp" || c.SignatureScheme != "hmac-sha256" || len(c.Key) < 32 {
		t.Errorf("defaults wrong: %+v", c)
	}
	ports := map[int]bool{}
	for _, p := range []int{c.ShellPort, c.IOPubPort, c.StdinPort, c.ControlPort, c.HBPort} {
		if p <= 0 || p > 65535 {
			t.Errorf("bad port %d", p)
		}
		ports[p] = true
	}
	if len(ports) != 5 {
		t.Errorf("ports not distinct: %+v", c)
	}
	c2, err := NewConnectionInfo("")
	if err != nil {
		t.Fatal(err)
	}
	if c2.Key == c.Key {
		t.Error("two connection infos share a key")
	}
	if _, err := NewConnectionInfo("203.0.113.1"); err == nil {
		t.Error("binding a non-local address should fail")
	}
}

func TestWriteReadConnectionFile(t *testing.T) {
	old := syscall.Umask(0) // the file must still be 0600
	defer syscall.Umask(old)
	c, err := NewConnectionInfo("")
	if err != nil {
		t.Fatal(err)
	}
	c.KernelName = "gompi"
	dir := t.TempDir()
	path := filepath.Join(dir, "kernel-1.json")
	if err := c.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	// Overwriting keeps 0600 and leaves no temp files behind.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("after overwrite mode %v, want 0600", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory has %d entries, want only the file (temp left behind?)", len(entries))
	}
	got, err := ReadConnectionFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != c {
		t.Errorf("read back %+v, want %+v", got, c)
	}
	// The JSON names are Jupyter's.
	raw, _ := os.ReadFile(path)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"transport", "ip", "shell_port", "iopub_port", "stdin_port", "control_port", "hb_port", "key", "signature_scheme", "kernel_name"} {
		if _, ok := m[k]; !ok {
			t.Errorf("connection file lacks %q", k)
		}
	}
}

func TestWriteFileAtomicFailure(t *testing.T) {
	c, _ := NewConnectionInfo("")
	err := c.WriteFile(filepath.Join(t.TempDir(), "missing-dir", "k.json"))
	if err == nil {
		t.Fatal("writing into a missing directory succeeded")
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not wrap ErrNotExist", err)
	}
}

func TestReadConnectionFileErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	valid := `"shell_port":1,"iopub_port":2,"stdin_port":3,"control_port":4,"hb_port":5,"key":"k"`
	_, err := ReadConnectionFile(filepath.Join(dir, "nope.json"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want wrapped ErrNotExist", err)
	}
	cases := map[string]struct{ body, want string }{
		"invalid json": {`{"ip":`, "parse connection file"},
		"scheme":       {`{` + valid + `,"signature_scheme":"hmac-md5"}`, "unsupported signature scheme"},
		"transport":    {`{` + valid + `,"transport":"ipc"}`, "unsupported transport"},
		"port":         {`{"shell_port":0,"iopub_port":2,"stdin_port":3,"control_port":4,"hb_port":5}`, "invalid shell_port"},
	}
	for name, c := range cases {
		p := write(name+".json", c.body)
		_, err := ReadConnectionFile(p)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) && name != "invalid json" {
			t.Errorf("%s: err = %v, want mention of %q and the path", name, err, c.want)
		}
	}
	// Defaults for omitted optional fields.
	got, err := ReadConnectionFile(write("min.json", `{`+valid+`}`))
	if err != nil {
		t.Fatal(err)
	}
	if got.Transport != "tcp" || got.IP != "127.0.0.1" || got.SignatureScheme != "hmac-sha256" {
		t.Errorf("defaults not applied: %+v", got)
	}
}

func TestRuntimeDir(t *testing.T) {
	base := t.TempDir()
	want := filepath.Join(base, "rt", "sub")
	t.Setenv("JUPYTER_RUNTIME_DIR", want)
	got, err := RuntimeDir()
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("RuntimeDir = %q, want %q", got, want)
	}
	if st, err := os.Stat(want); err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
		t.Errorf("runtime dir not created 0700: %v %v", st, err)
	}

	t.Setenv("JUPYTER_RUNTIME_DIR", "")
	t.Setenv("JUPYTER_DATA_DIR", filepath.Join(base, "data"))
	if got, _ := RuntimeDir(); got != filepath.Join(base, "data", "runtime") {
		t.Errorf("with JUPYTER_DATA_DIR: %q", got)
	}
	t.Setenv("JUPYTER_DATA_DIR", "")
	t.Setenv("XDG_DATA_HOME", filepath.Join(base, "xdg"))
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(base, "ignored"))
	if got, _ := RuntimeDir(); got != filepath.Join(base, "xdg", "jupyter", "runtime") {
		t.Errorf("with XDG_DATA_HOME: %q", got)
	}
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("HOME", filepath.Join(base, "home"))
	if got, _ := RuntimeDir(); got != filepath.Join(base, "home", ".local", "share", "jupyter", "runtime") {
		t.Errorf("default: %q", got)
	}
}

// TestRuntimeDirMatchesJupyterCore compares with the installed jupyter_core.
func TestRuntimeDirMatchesJupyterCore(t *testing.T) {
	if _, err := os.Stat(systemPython); err != nil {
		t.Fatalf("%s missing: %v", systemPython, err)
	}
	base := t.TempDir()
	for _, env := range [][2]string{
		{"XDG_RUNTIME_DIR", filepath.Join(base, "xdgrun")},
		{"XDG_DATA_HOME", filepath.Join(base, "xdgdata")},
		{"JUPYTER_DATA_DIR", filepath.Join(base, "jdata")},
		{"JUPYTER_RUNTIME_DIR", filepath.Join(base, "jrun")},
	} {
		t.Setenv(env[0], env[1])
		t.Setenv("HOME", filepath.Join(base, "home"))
		out, err := pythonOutput(systemPython, "-c", "from jupyter_core.paths import jupyter_runtime_dir; print(jupyter_runtime_dir())")
		if err != nil {
			t.Fatalf("jupyter_core: %v", err)
		}
		got, err := RuntimeDir()
		if err != nil {
			t.Fatal(err)
		}
		if got != out {
			t.Errorf("after setting %s: RuntimeDir %q, jupyter_core %q", env[0], got, out)
		}
	}
}
