// Package kernelspec writes and removes the kernelspec through which Jupyter
// (JupyterLab, the classic notebook, jupyter console, nbconvert) starts
// gompi-kernel on N MPI ranks.
package kernelspec

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/gompi-kernel/gompi-kernel/internal/mpiimpl"
)

// Options say what to install and where.
type Options struct {
	Name        string // directory name, what `jupyter console --kernel NAME` takes; default "gompi"
	DisplayName string // what a notebook's kernel menu shows; default "Go (MPI, N ranks)"
	Ranks       int    // MPI ranks; 1 runs the kernel without mpirun (an MPI singleton)
	Prefix      string // install under PREFIX/share/jupyter; empty = the user's data dir
	Executable  string // the gompi-kernel binary; default: the running one
	MPIRun      string // the mpirun to call; default: found on PATH
	LogLevel    string // passed as --log-level when set
}

// Spec is the kernel.json document.
type Spec struct {
	Argv          []string          `json:"argv"`
	DisplayName   string            `json:"display_name"`
	Language      string            `json:"language"`
	InterruptMode string            `json:"interrupt_mode"`
	Env           map[string]string `json:"env,omitempty"`
	Metadata      map[string]any    `json:"metadata,omitempty"`
}

// DataDir is where Jupyter looks for user data, as jupyter_core computes it
// on Linux: $JUPYTER_DATA_DIR, else $XDG_DATA_HOME/jupyter, else
// ~/.local/share/jupyter. Honouring JUPYTER_DATA_DIR lets tests install into
// a temporary directory.
func DataDir() (string, error) {
	if d := os.Getenv("JUPYTER_DATA_DIR"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "jupyter"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the Jupyter data directory: %w", err)
	}
	return filepath.Join(home, ".local", "share", "jupyter"), nil
}

func (o *Options) fill() error {
	if o.Name == "" {
		o.Name = "gompi"
	}
	if o.Ranks == 0 {
		o.Ranks = 4
	}
	if o.Ranks < 0 {
		return fmt.Errorf("ranks must be at least 1, not %d", o.Ranks)
	}
	if o.DisplayName == "" {
		o.DisplayName = fmt.Sprintf("Go (MPI, %d ranks)", o.Ranks)
		if o.Ranks == 1 {
			o.DisplayName = "Go (MPI, 1 rank)"
		}
	}
	if o.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find the gompi-kernel binary: %w", err)
		}
		o.Executable = exe
	}
	exe, err := filepath.Abs(o.Executable)
	if err != nil {
		return fmt.Errorf("absolute path of %s: %w", o.Executable, err)
	}
	o.Executable = exe
	if o.Ranks > 1 && o.MPIRun == "" {
		// The launcher of the MPI this binary links, not whatever
		// mpirun is first on PATH.
		p, err := mpiimpl.FindLauncher()
		if err != nil {
			return fmt.Errorf("a kernel on %d ranks: %w", o.Ranks, err)
		}
		o.MPIRun = p
	}
	if o.MPIRun != "" {
		if p, err := filepath.Abs(o.MPIRun); err == nil {
			o.MPIRun = p
		}
	}
	return nil
}

// Build returns the kernel.json for o.
func Build(o Options) (Spec, error) {
	if err := o.fill(); err != nil {
		return Spec{}, err
	}
	kernelArgs := []string{o.Executable, "--connection-file", "{connection_file}"}
	if o.LogLevel != "" {
		kernelArgs = append(kernelArgs, "--log-level", o.LogLevel)
	}
	argv := kernelArgs
	if o.Ranks > 1 {
		argv = append(append([]string{o.MPIRun, "-n", strconv.Itoa(o.Ranks)}, mpiimpl.LauncherFlags(o.MPIRun)...), kernelArgs...)
	}
	return Spec{
		Argv:        argv,
		DisplayName: o.DisplayName,
		Language:    "go",
		// mpirun turns SIGINT into SIGTERM for every rank, which kills the
		// job: interrupts must come as messages.
		InterruptMode: "message",
		Env: map[string]string{
			// OpenMPI refuses to start as root without these; MPICH has no
			// such check and ignores them.
			"OMPI_ALLOW_RUN_AS_ROOT":         "1",
			"OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
		},
		Metadata: map[string]any{"gompi": map[string]any{"ranks": o.Ranks}},
	}, nil
}

// Dir is where the kernelspec named name goes for prefix ("" = user).
func Dir(name, prefix string) (string, error) {
	if name == "" {
		name = "gompi"
	}
	if prefix != "" {
		return filepath.Join(prefix, "share", "jupyter", "kernels", name), nil
	}
	d, err := DataDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "kernels", name), nil
}

// Install writes kernel.json and the logos, replacing an earlier install of
// the same name, and returns the directory.
func Install(o Options) (string, error) {
	spec, err := Build(o)
	if err != nil {
		return "", err
	}
	dir, err := Dir(o.Name, o.Prefix)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode kernel.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kernel.json"), append(b, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("write kernel.json: %w", err)
	}
	for _, size := range []int{32, 64} {
		png, err := Logo(size)
		if err != nil {
			return "", err
		}
		name := filepath.Join(dir, fmt.Sprintf("logo-%dx%d.png", size, size))
		if err := os.WriteFile(name, png, 0o644); err != nil {
			return "", fmt.Errorf("write %s: %w", name, err)
		}
	}
	return dir, nil
}

// Uninstall removes the kernelspec named name.
func Uninstall(name, prefix string) (string, error) {
	dir, err := Dir(name, prefix)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(dir, "kernel.json")); errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("no kernelspec %q in %s", name, filepath.Dir(dir))
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("remove %s: %w", dir, err)
	}
	return dir, nil
}
