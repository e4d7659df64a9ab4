package main

import (
	"fmt"
	"io"

	"github.com/gompi-kernel/gompi-kernel/mpi"
)

// badUsage reports a mistake on the command line (msg, then the usage
// unless withUsage is false) and returns exit status 2.
//
// Under a launcher every rank parses the same command line and finds the
// same mistake. Only rank 0, as the launcher numbered it, says so and
// exits with status 2, which is the job's; the others exit at once,
// silently, with status 0. Before, every rank printed the usage (64 copies
// at 64 ranks) and exited with status 2, and OpenMPI 4.1's mpirun, when 32
// or more of its processes fail together, or one fails while it is
// aborting the job, never ends (and crashes on Ctrl-C): a batch job with a
// mistyped flag hung until its time limit. TestBadFlagUnderLauncher.
// Commands that no launcher starts (install, uninstall, console) report
// with usageError on every process.
func badUsage(stderr io.Writer, msg string, withUsage bool) int {
	if rank, ok := mpi.LaunchRank(); ok && rank > 0 {
		return 0
	}
	return usageError(stderr, msg, withUsage)
}

// usageError reports a mistake on the command line and returns exit
// status 2.
func usageError(stderr io.Writer, msg string, withUsage bool) int {
	if withUsage {
		fmt.Fprintf(stderr, "%s\n\n%s", msg, usage)
	} else {
		fmt.Fprintln(stderr, msg)
	}
	return 2
}
