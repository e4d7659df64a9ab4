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
	dir, err := Install(Options{Name: "gompi-test", Ranks: 3, Executable: "/opt/bin/gompi-kernel", Launcher: "/usr/bin/mpirun"})
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

// fakeLaunchers writes scripts that answer --version as OpenMPI's mpirun
// and mpiexec, MPICH's Hydra mpiexec and Slurm's srun do, and one that
// answers nothing.
func fakeLaunchers(t *testing.T) (dir string) {
	t.Helper()
	dir = t.TempDir()
	for name, version := range map[string]string{
		"mpirun":        "echo 'mpirun (Open MPI) 4.1.4'; echo; echo 'Report bugs to http://www.open-mpi.org/community/help/'",
		"mpiexec.hydra": "echo 'HYDRA build details:'; echo '    Version:                                 4.0.2'",
		"mpiexec":       "echo 'mpiexec (OpenRTE) 4.1.4'",
		"srun":          "echo 'slurm 23.02.6'",
		"silent":        "exit 1",
	} {
		script := "#!/bin/sh\n[ \"$1\" = --version ] || exit 2\n" + version + "\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestLauncherArgv: each launcher gets its own spelling of the rank count,
// the hostfile and "unbound, oversubscribed"; --launcher-arg values come
// verbatim after them, before the kernel. A launcher that does not say what
// it is is taken for OpenMPI.
func TestLauncherArgv(t *testing.T) {
	dir := fakeLaunchers(t)
	hosts := filepath.Join(dir, "hosts")
	if err := os.WriteFile(hosts, []byte("node1 slots=8\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir) // the hostfile is given relative, and must come out absolute
	kernel := "/opt/bin/gompi-kernel --connection-file {connection_file}"
	for _, tc := range []struct {
		launcher, hostfile string
		args               []string
		want               string
	}{
		{"mpirun", "hosts", []string{"--mca", "btl_tcp_if_include", "ib0"},
			"mpirun -n 8 --oversubscribe --bind-to none --hostfile " + hosts + " --mca btl_tcp_if_include ib0"},
		{"mpiexec.hydra", "hosts", []string{"-genv", "FI_PROVIDER=tcp"},
			"mpiexec.hydra -n 8 -bind-to none -disable-auto-cleanup -f " + hosts + " -genv FI_PROVIDER=tcp"},
		{"mpiexec", "hosts", nil, "mpiexec -n 8 --oversubscribe --bind-to none --hostfile " + hosts},
		{"srun", "", []string{"--mpi=pmix"}, "srun --ntasks 8 --cpu-bind=none --mpi=pmix"},
		{"silent", "", nil, "silent -n 8 --oversubscribe --bind-to none"},
	} {
		spec, err := Build(Options{Ranks: 8, Executable: "/opt/bin/gompi-kernel",
			Launcher: filepath.Join(dir, tc.launcher), Hostfile: tc.hostfile, LauncherArgs: tc.args})
		if err != nil {
			t.Errorf("%s: %v", tc.launcher, err)
			continue
		}
		if got, want := strings.Join(spec.Argv, " "), filepath.Join(dir, tc.want)+" "+kernel; got != want {
			t.Errorf("%s:\n argv %s\n want %s", tc.launcher, got, want)
		}
		if spec.InterruptMode != "message" {
			t.Errorf("%s: interrupt_mode %q", tc.launcher, spec.InterruptMode)
		}
	}
}

// TestLoopbackShim: the shim keeping the launcher's listener on loopback is
// preloaded into OpenMPI's mpirun and Hydra's mpiexec when every rank runs
// here, and never with a hostfile or into srun.
func TestLoopbackShim(t *testing.T) {
	dir := fakeLaunchers(t)
	hosts := filepath.Join(dir, "hosts")
	if err := os.WriteFile(hosts, []byte("node1 slots=8\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		launcher, hostfile string
		want               bool
	}{
		{"mpirun", "", true},
		{"mpirun", hosts, false},
		{"mpiexec.hydra", "", true},
		{"mpiexec.hydra", hosts, false},
		{"srun", "", false},
	} {
		spec, err := Build(Options{Ranks: 4, Executable: "/opt/bin/gompi-kernel", Launcher: filepath.Join(dir, tc.launcher),
			Hostfile: tc.hostfile, LoopbackShim: "/cache/loopbind.so"})
		if err != nil {
			t.Fatalf("%s: %v", tc.launcher, err)
		}
		if got := spec.Env["LD_PRELOAD"] == "/cache/loopbind.so"; got != tc.want {
			t.Errorf("%s, hostfile %q: env %v, want the shim preloaded: %v", tc.launcher, tc.hostfile, spec.Env, tc.want)
		}
	}
}

// TestLauncherByName: --launcher takes a name found on PATH and writes its
// absolute path; one rank with a launcher asked for goes through it.
func TestLauncherByName(t *testing.T) {
	dir := fakeLaunchers(t)
	t.Setenv("PATH", dir)
	spec, err := Build(Options{Ranks: 1, Executable: "/x/k", Launcher: "srun", LauncherArgs: []string{"--mpi=pmix"}})
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "srun") + " --ntasks 1 --cpu-bind=none --mpi=pmix /x/k --connection-file {connection_file}"
	if got := strings.Join(spec.Argv, " "); got != want {
		t.Errorf("argv %s\nwant %s", got, want)
	}
}

// TestLauncherErrors: what a site gets wrong is said at install time.
func TestLauncherErrors(t *testing.T) {
	dir := fakeLaunchers(t)
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Launcher: filepath.Join(dir, "srun"), Hostfile: filepath.Join(dir, "srun")}, "srun takes no hostfile"},
		{Options{Launcher: filepath.Join(dir, "mpirun"), Hostfile: filepath.Join(dir, "nowhere")}, "hostfile: stat " + filepath.Join(dir, "nowhere")},
		{Options{Launcher: filepath.Join(dir, "mpirun"), Hostfile: dir}, "is a directory"},
		{Options{Launcher: "no-such-launcher"}, "launcher no-such-launcher"},
	} {
		tc.o.Ranks, tc.o.Executable = 4, "/x/k"
		_, err := Build(tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one saying %q", tc.o, err, tc.want)
		}
	}
}
