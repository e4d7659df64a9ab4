package kernelspec

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestInstallHonoursJupyterDataDir(t *testing.T) {
	data := t.TempDir()
	t.Setenv("JUPYTER_DATA_DIR", data)
	dir, err := Install(Options{Name: "gompi-test", Ranks: 3, Executable: "/opt/bin/gompi-kernel", MPIRun: "/usr/bin/mpirun"})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(data, "kernels", "gompi-test"); dir != want {
		t.Fatalf("installed in %s, want %s", dir, want)
	}
	b, err := os.ReadFile(filepath.Join(dir, "kernel.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	want := []string{"/usr/bin/mpirun", "-n", "3", "--oversubscribe", "--bind-to", "none",
		"/opt/bin/gompi-kernel", "--connection-file", "{connection_file}"}
	if strings.Join(spec.Argv, " ") != strings.Join(want, " ") {
		t.Errorf("argv = %q, want %q", spec.Argv, want)
	}
	if spec.InterruptMode != "message" || spec.Language != "go" || spec.DisplayName != "Go (MPI, 3 ranks)" {
		t.Errorf("spec = %+v", spec)
	}
	if spec.Env["OMPI_ALLOW_RUN_AS_ROOT"] != "1" || spec.Env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] != "1" {
		t.Errorf("env = %v", spec.Env)
	}
	for _, n := range []string{"logo-32x32.png", "logo-64x64.png"} {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(bytes.NewReader(b)); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	if _, err := Uninstall("gompi-test", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still there after uninstall", dir)
	}
	if _, err := Uninstall("gompi-test", ""); err == nil {
		t.Error("uninstalling twice gave no error")
	}
}

func TestOneRankRunsWithoutMPIRun(t *testing.T) {
	spec, err := Build(Options{Ranks: 1, Executable: "/x/gompi-kernel", LogLevel: "debug"})
	if err != nil {
		t.Fatal(err)
	}
	if spec.Argv[0] != "/x/gompi-kernel" || spec.Argv[len(spec.Argv)-1] != "debug" {
		t.Errorf("argv = %q", spec.Argv)
	}
	if spec.DisplayName != "Go (MPI, 1 rank)" {
		t.Errorf("display name %q", spec.DisplayName)
	}
}

func TestPrefix(t *testing.T) {
	p := t.TempDir()
	dir, err := Install(Options{Prefix: p, Ranks: 1, Executable: "/x/k"})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(p, "share", "jupyter", "kernels", "gompi"); dir != want {
		t.Errorf("dir %s, want %s", dir, want)
	}
}

func TestBadRanks(t *testing.T) {
	if _, err := Build(Options{Ranks: -2, Executable: "/x/k"}); err == nil {
		t.Error("negative ranks accepted")
	}
}

// TestJupyterSeesIt asks Jupyter itself whether it finds the installed spec.
func TestJupyterSeesIt(t *testing.T) {
	jup, err := exec.LookPath("jupyter")
	if err != nil {
		t.Fatalf("jupyter not installed (make setup installs it): %v", err)
	}
	data := t.TempDir()
	t.Setenv("JUPYTER_DATA_DIR", data)
	if _, err := Install(Options{Name: "gompi-seen", Ranks: 1, Executable: "/x/k"}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(jup, "kernelspec", "list", "--json").Output()
	if err != nil {
		t.Fatalf("jupyter kernelspec list: %v", err)
	}
	var list struct {
		Kernelspecs map[string]struct {
			ResourceDir string `json:"resource_dir"`
			Spec        Spec   `json:"spec"`
		} `json:"kernelspecs"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	ks, ok := list.Kernelspecs["gompi-seen"]
	if !ok {
		t.Fatalf("jupyter does not list gompi-seen: %s", out)
	}
	if ks.Spec.InterruptMode != "message" {
		t.Errorf("jupyter read interrupt_mode %q", ks.Spec.InterruptMode)
	}
}
