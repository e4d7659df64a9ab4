// Package kernelspec writes and removes the kernelspec through which Jupyter
// (JupyterLab, the classic notebook, jupyter console, nbconvert) starts
// gompi-kernel on N MPI ranks.
package kernelspec

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/gompi-kernel/gompi-kernel/internal/mpiimpl"
)

// Options say what to install and where.
type Options struct {
	Name        string // directory name, what `jupyter console --kernel NAME` takes; default "gompi"
	DisplayName string // what a notebook's kernel menu shows; default "Go (MPI, N ranks)"
	Ranks       int    // MPI ranks; 1 runs the kernel without a launcher (an MPI singleton) unless one is asked for
	Prefix      string // install under PREFIX/share/jupyter; empty = the user's data dir
	Executable  string // the gompi-kernel binary; default: the running one
	// Launcher starts the ranks: a name looked up on PATH (mpirun, mpiexec,
	// mpiexec.hydra, srun) or a path; default mpirun. Its --version answer
	// decides its spelling (OpenMPI, MPICH Hydra, Slurm).
	Launcher string
	// Hostfile, when set, is handed to the launcher (OpenMPI --hostfile,
	// Hydra -f); it must exist and is written as an absolute path. srun
	// takes none: the allocation decides the nodes.
	Hostfile string
	// LauncherArgs go to the launcher verbatim, after its own flags and
	// before the kernel: e.g. --mpi=pmix for srun, --mca settings.
	LauncherArgs []string
	LogLevel     string // passed as --log-level when set
	// LoopbackShim, when set, is the library (internal/loopbind) preloaded
	// into OpenMPI's mpirun or Hydra's mpiexec so that its own listener
	// stays on loopback while every rank runs on this host (the shim stands
	// aside by itself when the launcher is given hosts or runs in an
	// allocation). Not used with a hostfile, nor with srun.
	LoopbackShim string
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
	if !o.launched() {
		return nil
	}
	if o.Launcher == "" {
		// The launcher of the MPI this binary links, not whatever
		// mpirun is first on PATH.
		p, err := mpiimpl.FindLauncher()
		if err != nil {
			return fmt.Errorf("a kernel on %d ranks: %w (or give --launcher)", o.Ranks, err)
		}
		o.Launcher = p
	}
	p, err := exec.LookPath(o.Launcher)
	if err != nil {
		return fmt.Errorf("launcher %s: %w", o.Launcher, err)
	}
	if o.Launcher, err = filepath.Abs(p); err != nil {
		return fmt.Errorf("absolute path of launcher %s: %w", p, err)
	}
	if o.Hostfile != "" {
		h, err := filepath.Abs(o.Hostfile)
		if err != nil {
			return fmt.Errorf("absolute path of hostfile %s: %w", o.Hostfile, err)
		}
		st, err := os.Stat(h)
		if err != nil {
			return fmt.Errorf("hostfile: %w", err)
		}
		if st.IsDir() {
			return fmt.Errorf("hostfile %s is a directory", h)
		}
		o.Hostfile = h
	}
	return nil
}

// launched reports whether the kernel is started by a launcher: on more than
// one rank, or on one when a launcher, hostfile or launcher argument was
// asked for (one rank on a node of the allocation, say).
func (o *Options) launched() bool {
	return o.Ranks > 1 || o.Launcher != "" || o.Hostfile != "" || len(o.LauncherArgs) > 0
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
	env := map[string]string{
		// OpenMPI refuses to start as root without these; MPICH has no
		// such check and ignores them.
		"OMPI_ALLOW_RUN_AS_ROOT":         "1",
		"OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
	}
	if o.launched() {
		kind := mpiimpl.Detect(o.Launcher)
		if (kind == mpiimpl.OpenMPI || kind == mpiimpl.Hydra) && o.Hostfile == "" && o.LoopbackShim != "" {
			env["LD_PRELOAD"] = o.LoopbackShim
		}
		flags, err := launchFlags(kind, o.Ranks, o.Hostfile)
		if err != nil {
			return Spec{}, fmt.Errorf("%s (%s): %w", o.Launcher, cmp.Or(kind, "OpenMPI?"), err)
		}
		argv = append([]string{o.Launcher}, flags...)
		argv = append(argv, o.LauncherArgs...)
		argv = append(argv, kernelArgs...)
	}
	return Spec{
		Argv:        argv,
		DisplayName: o.DisplayName,
		Language:    "go",
		// No launcher passes a SIGINT on as an interrupt: OpenMPI's mpirun
		// and Hydra's mpiexec end the job on it, srun reports the job's
		// state on the first and kills it on a second within a second.
		// Interrupts must come as messages, which rank 0 passes to every
		// rank.
		InterruptMode: "message",
		Env:           env,
		Metadata:      map[string]any{"gompi": map[string]any{"ranks": o.Ranks}},
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

// launchFlags are a launcher's own flags for ranks ranks and the hostfile
// ("" for none), in the spelling of its family (mpiimpl.Detect; one that
// did not say gets OpenMPI's). They let a notebook kernel run more ranks than
// cores, unbound: more ranks than cores is normal for exploring a parallel
// program on a laptop, and bound ranks of a notebook kernel would fight over
// the same core. OpenMPI's mpirun needs --oversubscribe --bind-to none;
// Hydra oversubscribes by itself and spells -bind-to none, and gets
// -disable-auto-cleanup (mpiimpl.HydraFlags says why); srun must stay
// inside its allocation (no oversubscription) and spells --cpu-bind=none.
func launchFlags(k mpiimpl.Kind, ranks int, hostfile string) ([]string, error) {
	n := strconv.Itoa(ranks)
	switch k {
	case mpiimpl.Hydra:
		f := append([]string{"-n", n}, mpiimpl.HydraFlags()...)
		if hostfile != "" {
			f = append(f, "-f", hostfile)
		}
		return f, nil
	case mpiimpl.Slurm:
		if hostfile != "" {
			return nil, errors.New("srun takes no hostfile: the Slurm allocation decides the nodes " +
				"(choose them with sbatch/salloc, or pass --launcher-arg=--nodelist=...)")
		}
		return []string{"--ntasks", n, "--cpu-bind=none"}, nil
	}
	f := []string{"-n", n, "--oversubscribe", "--bind-to", "none"}
	if hostfile != "" {
		f = append(f, "--hostfile", hostfile)
	}
	return f, nil
}
