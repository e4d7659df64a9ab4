package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gompi-kernel/gompi-kernel/console"
)

// consoleUsage documents `gompi-kernel console`.
const consoleUsage = `Usage:
  gompi-kernel console [--ranks N] [--mpirun PATH]
                              start a kernel on N ranks (default 4) and a
                              terminal console on it; Ctrl-C interrupts a
                              running cell on every rank, Ctrl-D quits and
                              shuts the kernel down
  gompi-kernel console --existing FILE
                              attach to a running kernel (the FILE printed by
                              'mpirun -n N gompi-kernel'); quitting leaves it
                              running
  --log-level LEVEL           the console's own diagnostics on stderr
                              (default error)
`

// consoleCmd is `gompi-kernel console`: a terminal Jupyter client in Go,
// whose Ctrl-C works (Debian's jupyter-console 6.4 never sends the
// interrupt).
func consoleCmd(args []string, stdin *os.File, stdout, stderr io.Writer) int {
	fs := newFlags("console")
	ranks := fs.Int("ranks", 4, "")
	existing := fs.String("existing", "", "")
	mpirun := fs.String("mpirun", "", "")
	level := fs.String("log-level", "error", "")
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, consoleUsage)
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "gompi-kernel console: %v\n\n%s", err, consoleUsage)
		return 2
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "gompi-kernel console: unexpected argument %q\n\n%s", fs.Arg(0), consoleUsage)
		return 2
	}
	log, err := logger(stderr, *level)
	if err != nil {
		fmt.Fprintf(stderr, "gompi-kernel: %v\n", err)
		return 2
	}
	// The terminal is in raw mode while the console runs, so Ctrl-C is a
	// key, not SIGINT; SIGTERM and SIGHUP (terminal closed) end it
	// cleanly, shutting down a kernel it started.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	if err := console.Run(ctx, console.Options{
		Existing: *existing, Ranks: *ranks, MPIRun: *mpirun, In: stdin, Out: stdout, Log: log,
	}); err != nil {
		fmt.Fprintf(stderr, "gompi-kernel %v\n", err) // "console: …" names itself
		return 1
	}
	return 0
}
