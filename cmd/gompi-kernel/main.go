// Command gompi-kernel is a Jupyter kernel for Go in which every cell runs on
// every MPI rank. This file holds only the command line: flags, sub-commands
// and wiring; the modes it starts live in package modes.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/gompi-kernel/gompi-kernel/internal/loopbind"
	"github.com/gompi-kernel/gompi-kernel/kernel"
	"github.com/gompi-kernel/gompi-kernel/kernelspec"
	"github.com/gompi-kernel/gompi-kernel/modes"
)

const usage = `gompi-kernel: a Jupyter kernel for Go in which every cell runs on every MPI rank.

Usage:
  mpirun -n N gompi-kernel [flags]     serve a kernel on N ranks; prints the
                                       'jupyter console --existing FILE' line to use
  gompi-kernel [flags]                 the same on one rank (no mpirun needed)
  mpirun -n N gompi-kernel run [--all] [--interpret] SCRIPT.go [ARGS]
                                       run a Go script (package main, func
                                       main) on rank 0 while the other ranks
                                       serve its mpi.Call; --all: on every rank.
                                       The script is compiled (go command
                                       needed; built once, loaded on every
                                       rank); --interpret: run it in the
                                       interpreter instead
  mpirun -n N gompi-kernel repl        a line REPL on rank 0 whose input runs on
                                       every rank
  gompi-kernel console [--ranks N | --existing FILE]
                                       a terminal console in Go: starts a
                                       kernel on N ranks (default 4) or attaches
                                       to a running one (FILE: its connection
                                       file); Ctrl-C interrupts; also --mpirun
                                       PATH, --log-level LEVEL
  gompi-kernel install [flags]         install a kernelspec for JupyterLab,
                                       notebook, console and nbconvert
  gompi-kernel uninstall [flags]       remove an installed kernelspec
  gompi-kernel loopbind                print the path of the shim that keeps
                                       the launcher's (mpirun's, mpiexec's)
                                       own listener on loopback (building it
                                       once), for
                                       LD_PRELOAD=$(gompi-kernel loopbind) mpirun …
                                       when every rank runs on this host
  gompi-kernel version                 print the version
  gompi-kernel help                    this text

Kernel flags:
  -f, --connection-file FILE  connection file written by a frontend (the
                              kernelspec passes it); if FILE does not exist it
                              is written. Default: a new kernel-<id>.json in
                              the Jupyter runtime dir ($JUPYTER_RUNTIME_DIR)
  --ip IP                     address to bind when writing the connection
                              file (default 127.0.0.1)
  --log-level LEVEL           debug, info, warn or error (default warn); logs go
                              to stderr

Install flags:
  --ranks N                   MPI ranks the kernel runs on (default 4; 1 runs
                              without mpirun)
  --name NAME                 kernelspec name, for 'jupyter console --kernel NAME'
                              (default gompi)
  --display-name TEXT         name shown in a notebook's kernel menu
  --user                      install for the current user, honouring
                              $JUPYTER_DATA_DIR (the default)
  --prefix DIR                install under DIR/share/jupyter instead
  --launcher NAME|PATH        what starts the ranks: mpirun (the default),
                              mpiexec, mpiexec.hydra, srun, or a path; its
                              --version answer decides the spelling of its
                              flags (OpenMPI, MPICH Hydra, Slurm). With a
                              launcher asked for, 1 rank goes through it too
  --mpirun PATH               the same as --launcher
  --hostfile FILE             hosts the launcher spreads ranks over (OpenMPI
                              --hostfile, Hydra -f; srun takes none). Rank 0
                              must run where Jupyter does: OpenMPI puts it on
                              mpirun's host if the file names that host,
                              Hydra on the file's first host
  --launcher-arg ARG          one argument for the launcher, passed verbatim
                              before the kernel; repeat for more (e.g.
                              --launcher-arg=--mpi=pmix for srun)
  --log-level LEVEL           log level the kernel is started with

Uninstall flags:
  --name NAME, --prefix DIR   as for install
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command line, returning the exit status, so that tests
// can drive it without a process.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "install":
			return install(args[1:], stdout, stderr)
		case "run":
			return script(args[1:], stdout, stderr)
		case "repl":
			return repl(args[1:], os.Stdin, stdout, stderr)
		case "console":
			return consoleCmd(args[1:], os.Stdin, stdout, stderr)
		case "uninstall":
			return uninstall(args[1:], stdout, stderr)
		case "version":
			fmt.Fprintln(stdout, "gompi-kernel", kernel.Version())
			return 0
		case "loopbind":
			if len(args) > 1 {
				fmt.Fprintf(stderr, "gompi-kernel loopbind takes no arguments\n\n%s", usage)
				return 2
			}
			lib, err := loopbind.Library("")
			if err != nil {
				fmt.Fprintln(stderr, "gompi-kernel:", err)
				return 1
			}
			fmt.Fprintln(stdout, lib)
			return 0
		case "help":
			fmt.Fprint(stdout, usage)
			return 0
		}
		if !strings.HasPrefix(args[0], "-") {
			return badUsage(stderr, fmt.Sprintf("gompi-kernel: unknown command %q", args[0]), true)
		}
	}
	return serve(args, stdout, stderr)
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse reports a usage error on stderr; it returns the exit status to use
// when parsing ended the command (help or error), or -1 to go on. launched
// says whether the command is one a launcher starts on every rank (see
// badUsage).
func parse(fs *flag.FlagSet, args []string, stdout, stderr io.Writer, launched bool) int {
	report := usageError
	if launched {
		report = badUsage
	}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return 0
	case err != nil:
		return report(stderr, fmt.Sprintf("gompi-kernel: %v", err), true)
	case fs.NArg() > 0:
		return report(stderr, fmt.Sprintf("gompi-kernel: unexpected argument %q", fs.Arg(0)), true)
	}
	return -1
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("bad --log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

func serve(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("gompi-kernel")
	var cfg modes.Config
	fs.StringVar(&cfg.ConnectionFile, "connection-file", "", "")
	fs.StringVar(&cfg.ConnectionFile, "f", "", "")
	fs.StringVar(&cfg.IP, "ip", "127.0.0.1", "")
	level := fs.String("log-level", "warn", "")
	if code := parse(fs, args, stdout, stderr, true); code >= 0 {
		return code
	}
	lvl, err := parseLevel(*level)
	if err != nil {
		return badUsage(stderr, fmt.Sprintf("gompi-kernel: %v", err), false)
	}
	cfg.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	cfg.Hint = stdout
	cfg.Stderr = stderr

	// SIGTERM (what mpirun and Jupyter send) and SIGINT end the kernel
	// cleanly: workers told to quit, connection file removed.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := modes.Serve(ctx, cfg); err != nil {
		cfg.Log.Error("kernel ended with an error", "err", err)
		fmt.Fprintf(stderr, "gompi-kernel: %v\n", err)
		return 1
	}
	return 0
}

// logger writes warnings and worse to stderr (debug with --log-level).
func logger(stderr io.Writer, level string) (*slog.Logger, error) {
	lvl, err := parseLevel(level)
	if err != nil {
		return nil, err
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl})), nil
}

func script(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run")
	all := fs.Bool("all", false, "")
	interpret := fs.Bool("interpret", false, "")
	level := fs.String("log-level", "warn", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return 0
		}
		return badUsage(stderr, fmt.Sprintf("gompi-kernel run: %v", err), true)
	}
	if fs.NArg() == 0 {
		return badUsage(stderr, "gompi-kernel run: which script?", true)
	}
	log, err := logger(stderr, *level)
	if err != nil {
		return badUsage(stderr, fmt.Sprintf("gompi-kernel: %v", err), false)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	code, err := modes.RunScript(ctx, modes.ScriptConfig{
		Path: fs.Arg(0), Args: fs.Args()[1:], All: *all, Interpret: *interpret, Log: log, Stdout: stdout, Stderr: stderr,
	})
	if err != nil {
		fmt.Fprintf(stderr, "gompi-kernel run: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

func repl(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("repl")
	level := fs.String("log-level", "warn", "")
	if code := parse(fs, args, stdout, stderr, true); code >= 0 {
		return code
	}
	log, err := logger(stderr, *level)
	if err != nil {
		return badUsage(stderr, fmt.Sprintf("gompi-kernel: %v", err), false)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := modes.RunREPL(ctx, log, stdin, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "gompi-kernel repl: %v\n", err)
		return 1
	}
	return 0
}

func install(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("install")
	var o kernelspec.Options
	fs.IntVar(&o.Ranks, "ranks", 4, "")
	fs.StringVar(&o.Name, "name", "gompi", "")
	fs.StringVar(&o.DisplayName, "display-name", "", "")
	user := fs.Bool("user", false, "")
	fs.StringVar(&o.Prefix, "prefix", "", "")
	fs.StringVar(&o.Launcher, "launcher", "", "")
	fs.StringVar(&o.Launcher, "mpirun", "", "")
	fs.StringVar(&o.Hostfile, "hostfile", "", "")
	fs.Var((*stringList)(&o.LauncherArgs), "launcher-arg", "")
	fs.StringVar(&o.LogLevel, "log-level", "", "")
	if code := parse(fs, args, stdout, stderr, false); code >= 0 {
		return code
	}
	if *user && o.Prefix != "" {
		fmt.Fprintf(stderr, "gompi-kernel: --user and --prefix exclude each other\n\n%s", usage)
		return 2
	}
	if o.Ranks < 1 {
		fmt.Fprintf(stderr, "gompi-kernel: --ranks must be at least 1\n")
		return 2
	}
	if o.LogLevel != "" {
		if _, err := parseLevel(o.LogLevel); err != nil {
			fmt.Fprintf(stderr, "gompi-kernel: %v\n", err)
			return 2
		}
	}
	if o.Hostfile == "" {
		// For OpenMPI's mpirun with every rank here (kernelspec decides).
		if lib, err := loopbind.Library(""); err != nil {
			fmt.Fprintf(stderr, "gompi-kernel: install: mpirun's own listener will bind every address: %v\n", err)
		} else {
			o.LoopbackShim = lib
		}
	}
	dir, err := kernelspec.Install(o)
	if err != nil {
		fmt.Fprintf(stderr, "gompi-kernel: install: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "Installed kernelspec %s (%d rank(s)) in %s\n", o.Name, o.Ranks, dir)
	b, err := os.ReadFile(filepath.Join(dir, "kernel.json"))
	var spec kernelspec.Spec
	if err == nil {
		err = json.Unmarshal(b, &spec)
	}
	if err != nil {
		fmt.Fprintf(stderr, "gompi-kernel: install: reading back kernel.json: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "Jupyter starts it as: %s\n", strings.Join(spec.Argv, " "))
	return 0
}

// stringList is a flag that may be repeated, each value appended.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, " ") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

func uninstall(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("uninstall")
	name := fs.String("name", "gompi", "")
	prefix := fs.String("prefix", "", "")
	fs.Bool("user", false, "")
	if code := parse(fs, args, stdout, stderr, false); code >= 0 {
		return code
	}
	dir, err := kernelspec.Uninstall(*name, *prefix)
	if err != nil {
		fmt.Fprintf(stderr, "gompi-kernel: uninstall: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "Removed kernelspec %s from %s\n", *name, dir)
	return 0
}
