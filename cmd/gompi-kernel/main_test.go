package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gompi-kernel/gompi-kernel/kernelspec"
)

// TestInstallClusterFlags: --launcher, --hostfile and repeated
// --launcher-arg end up in kernel.json in OpenMPI's spelling, and install
// prints the command Jupyter will run.
func TestInstallClusterFlags(t *testing.T) {
	data := t.TempDir()
	t.Setenv("JUPYTER_DATA_DIR", data)
	hosts := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(hosts, []byte("localhost slots=4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"install", "--ranks", "4", "--name", "site", "--launcher", "mpirun", "--hostfile", hosts,
		"--launcher-arg", "--mca", "--launcher-arg", "btl", "--launcher-arg=self,vader"}, &out, &errb)
	if code != 0 {
		t.Fatalf("install exited %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	b, err := os.ReadFile(filepath.Join(data, "kernels", "site", "kernel.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec kernelspec.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	argv := strings.Join(spec.Argv, " ")
	want := "-n 4 --oversubscribe --bind-to none --hostfile " + hosts + " --mca btl self,vader "
	if !strings.Contains(argv, want) || !strings.HasSuffix(spec.Argv[0], "/mpirun") {
		t.Errorf("argv %s\nwant mpirun %s…", argv, want)
	}
	if !strings.Contains(out.String(), "Jupyter starts it as: "+argv) {
		t.Errorf("install did not print the command line:\n%s", out.String())
	}
}

// TestInstallBadFlags: a wrong flag prints the usage and exits 2; a
// hostfile that is not there, or one for srun, exits 1 saying why.
func TestInstallBadFlags(t *testing.T) {
	t.Setenv("JUPYTER_DATA_DIR", t.TempDir())
	dir := t.TempDir()
	srun := filepath.Join(dir, "srun")
	if err := os.WriteFile(srun, []byte("#!/bin/sh\necho 'slurm 23.02.6'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"install", "--hostfil", "x"}, 2, "flag provided but not defined: -hostfil"},
		{[]string{"install", "--launcher-arg"}, 2, "flag needs an argument: -launcher-arg"},
		{[]string{"install", "--hostfile", filepath.Join(dir, "absent")}, 1, "hostfile: stat " + filepath.Join(dir, "absent")},
		{[]string{"install", "--launcher", srun, "--hostfile", srun}, 1, "srun takes no hostfile"},
	} {
		var out, errb bytes.Buffer
		code := run(tc.args, &out, &errb)
		if code != tc.code || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr:\n%s\nwant exit %d saying %q", tc.args, code, errb.String(), tc.code, tc.want)
		}
		if tc.code == 2 && !strings.Contains(errb.String(), "Install flags:") {
			t.Errorf("%q: no usage on stderr:\n%s", tc.args, errb.String())
		}
	}
}

// TestUsageUnderLauncher: under a launcher, a mistake on the command line
// of a command it starts on every rank is reported by rank 0 alone (exit
// 2); other ranks exit 0 in silence. Commands no launcher starts report
// on every process.
func TestUsageUnderLauncher(t *testing.T) {
	for _, tc := range []struct {
		rank string
		args []string
		code int
		says bool
	}{
		{"0", []string{"--bogus"}, 2, true},
		{"3", []string{"--bogus"}, 0, false},
		{"3", []string{"run"}, 0, false},
		{"3", []string{"repl", "extra"}, 0, false},
		{"3", []string{"--log-level", "loud"}, 0, false},
		{"3", []string{"install", "--hostfil", "x"}, 2, true},
	} {
		t.Setenv("OMPI_COMM_WORLD_RANK", tc.rank)
		var out, errb bytes.Buffer
		code := run(tc.args, &out, &errb)
		if code != tc.code || (errb.Len() > 0) != tc.says || out.Len() > 0 {
			t.Errorf("rank %s %q: exit %d, stdout %q, stderr %q; want exit %d, a report: %v",
				tc.rank, tc.args, code, out.String(), errb.String(), tc.code, tc.says)
		}
	}
}
