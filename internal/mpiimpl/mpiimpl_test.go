package mpiimpl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLauncherFlags: an MPICH (Hydra) launcher gets its own spelling and no
// --oversubscribe, which it does not know; OpenMPI, or a launcher that does
// not say, gets OpenMPI's.
func TestLauncherFlags(t *testing.T) {
	dir := t.TempDir()
	hydra := filepath.Join(dir, "mpiexec.hydra")
	if err := os.WriteFile(hydra, []byte("#!/bin/sh\necho 'HYDRA build details:'\necho '    Version: 4.0.2'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	silent := filepath.Join(dir, "silent")
	if err := os.WriteFile(silent, []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ launcher, want string }{
		{hydra, "-bind-to none -disable-auto-cleanup"},
		{silent, "--oversubscribe --bind-to none"},
		{filepath.Join(dir, "absent"), "--oversubscribe --bind-to none"},
	} {
		if got := strings.Join(LauncherFlags(tc.launcher), " "); got != tc.want {
			t.Errorf("%s: flags %q, want %q", filepath.Base(tc.launcher), got, tc.want)
		}
	}
}

// TestFindLauncher: the launcher found is this build's MPI's, which the
// setup installs (openmpi-bin; mpich with `make MPI=mpich`).
func TestFindLauncher(t *testing.T) {
	p, err := FindLauncher()
	if err != nil {
		t.Fatal(err)
	}
	hydra := strings.Join(LauncherFlags(p), " ") == "-bind-to none -disable-auto-cleanup"
	if hydra != (Name == "mpich") {
		t.Errorf("%s builds start jobs with %s, which takes %q", Name, p, LauncherFlags(p))
	}
}
