package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/gompi-kernel/gompi-kernel/compile"
	"github.com/gompi-kernel/gompi-kernel/kernel"
)

// load binds a built plugin into this rank's session: the rank's one
// Loader opens it from the artifact's bytes, binds its mpi and display
// shims to this rank's packages, and declares the names it defines for
// later cells.
//
// compile.Loader.Bind also points the process's os.Stdout and os.Stderr at
// the session's capture pipes, since compiled code prints through them and
// the interpreter cannot rebind them for it. That is process-wide, so no
// kernel writer may look those variables up after start-up:
//   - the CLI hands the modes the *os.File values it read at start (logger,
//     script output, REPL, serve's hint), so they keep writing to the
//     real descriptors 1 and 2;
//   - the worker's lifeline (engine/lifeline.go) redirects descriptor 2
//     itself (dup3), which Bind does not touch: the runtime's dying words
//     still reach rank 0, and rank 0 copies them to the stderr it held when
//     the lifeline opened, not to the capture pipe;
//   - OpenMPI and the Go runtime write to the descriptors, not to os.Stderr.
func (r *Rank) load(ctx context.Context, a *compile.Artifact, out kernel.Output) doneReport {
	r.setOutput(out)
	r.bind(ctx)
	start := time.Now()
	if err := r.loader.Bind(ctx, r.sess, a, r.shims); err != nil {
		return doneReport{Err: kernelError("LoadError", err.Error())}
	}
	if a.Main {
		if err := r.useScriptMain(a); err != nil {
			return doneReport{Err: kernelError("LoadError", err.Error())}
		}
	}
	return doneReport{Seconds: time.Since(start).Seconds()}
}

// load is cmdLoad on a worker: decode the artifact rank 0 built, bind it,
// report done. It runs in the command loop itself: loading takes tens of
// milliseconds and calls no MPI, so there is nothing to interrupt.
func (w *Worker) load(ctx context.Context, c command) error {
	var report doneReport
	var a compile.Artifact
	var plugin []byte
	var err error
	if c.More {
		// Taken first, whatever else fails: rank 0 waits until every
		// worker has it.
		if plugin, err = w.fabric.receiveBlob(ctx); err != nil {
			return fmt.Errorf("load %d: %w", c.Seq, err)
		}
	}
	if err := a.UnmarshalBinary(c.Blob); err != nil {
		report.Err = kernelError("LoadError", err.Error())
	} else {
		a.Plugin = plugin
		report = w.rank.load(ctx, &a, &remoteOutput{ctx: ctx, fabric: w.fabric, seq: c.Seq, log: w.log})
	}
	if err := w.fabric.Send(ctx, event{Kind: evDone, Seq: c.Seq, Rank: w.fabric.rank, Result: &report}); err != nil {
		return fmt.Errorf("report load %d: %w", c.Seq, err)
	}
	return nil
}
