package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/gompi-kernel/gompi-kernel/mpi"
)

// Run is the start-up every mode shares: it starts MPI and the fabric and
// builds this rank's interpreter; then rank 0 runs drive (serve Jupyter, a
// script, a REPL) with the Coordinator while the other ranks run the worker
// event loop, and the workers are shut down when drive returns. args are
// the cells' os.Args.
func Run(ctx context.Context, log *slog.Logger, args []string, drive func(*Coordinator) error) (err error) {
	start := time.Now()
	// No garbage collection until the interpreter is built: a start-up
	// makes ~6 MB of heap that is mostly kept, and the one or two
	// collections it triggered cost a rank ~5 ms of CPU, which 64 ranks
	// starting on a few cores pay in turn.
	gcPercent := debug.SetGCPercent(-1)
	gcPaused := true
	resumeGC := func() {
		if gcPaused {
			debug.SetGCPercent(gcPercent)
			gcPaused = false
		}
	}
	defer resumeGC()
	slack := quietSysmon(log)
	shareCores(log)
	keepMPIOnOneHost(log)
	yieldOnlyWhileSpinning(log)
	// Rank 0's lifeline closes after MPI_Finalize, so this defer comes
	// before Finalize's: closing waits for the workers' connections to
	// end, which happens when they exit, after their own MPI_Finalize, and
	// that waits for rank 0's. Closed before Finalize, every shutdown of a
	// kernel with workers sat out the lifeline's 1 s read deadline.
	var l *lifeline
	defer func() { l.close() }()
	if err := initMPI(ctx, log); err != nil {
		return fmt.Errorf("start MPI: %w", err)
	}
	log.Debug("MPI initialised", "after", time.Since(start))
	defer func() {
		if ferr := mpi.Finalize(); ferr != nil {
			log.Error("finalize MPI", "err", ferr)
		}
	}()
	f, err := NewFabric(log)
	if err != nil {
		return err
	}
	defer f.Close()
	log = log.With("rank", f.Rank())
	limitStacks(log, f.Rank())
	defer startProfile(f.Rank(), log)()
	log.Debug("MPI and fabric up", "after", time.Since(start))
	// Rank 0 builds its interpreter before it broadcasts where its
	// lifeline listens, and the workers build theirs after they got that:
	// when ranks outnumber cores, rank 0's build then does not share the
	// cores with every worker's, and the kernel is ready for the frontend
	// sooner; the workers build while the frontend sends its first cell.
	var r *Rank
	if f.Rank() == 0 {
		if r, err = NewRank(f, args); err != nil {
			return err
		}
	}
	if l, err = openLifeline(ctx, f, log); err != nil {
		return err
	}
	if f.Rank() != 0 {
		if r, err = NewRank(f, args); err != nil {
			return err
		}
	}
	resumeGC()
	r.slack, r.beforeCell = slack, settleSysmon(ctx, log, slack)
	log.Debug("interpreter ready", "after", time.Since(start))
	if f.Rank() != 0 {
		err = NewWorker(f, r, log).Run(ctx)
	} else {
		c := NewCoordinator(f, r, l, log)
		err = drive(c)
		// Whatever happened, the workers must leave their loops, or mpirun
		// waits for them forever.
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if serr := c.Shutdown(sctx); serr != nil {
			log.Error("stopping workers", "err", serr)
			err = errors.Join(err, serr)
		}
		if d := c.deadRank(); d != nil && err == nil {
			// MPI_Finalize waits for every rank, the dead one too: under
			// MPICH's Hydra (which leaves the job to the kernel) a script
			// whose workers died hung there. The job ends by abort.
			err = fmt.Errorf("rank %d died: %s", d.rank, d.reason)
		}
	}
	if err != nil && f.Size() > 1 {
		// The other ranks may wait for this one forever; only an abort is
		// sure to end the whole job, and with it mpirun.
		log.Error("failed, aborting the MPI job", "err", err)
		mpi.Abort(1)
	}
	return err
}

// initMPI is mpi.Init for a process that must end when ctx does (SIGTERM,
// SIGINT: cmd/gompi-kernel). MPI_Init cannot be interrupted, and a process
// left in it keeps the job alive: when rank 0 fails before MPI starts (a
// script path that is not there), OpenMPI's mpirun sends SIGTERM to the
// processes it started, the signal ended only ctx, and the ranks still in
// MPI_Init kept mpirun waiting forever (32 ranks on 2 cores, every time).
// A process told to end while MPI starts therefore exits at once; it has
// nothing to clean up yet.
func initMPI(ctx context.Context, log *slog.Logger) error {
	started := make(chan struct{})
	defer close(started)
	go func() {
		select {
		case <-ctx.Done():
			log.Debug("told to end while MPI starts: exiting")
			os.Exit(1)
		case <-started:
		}
	}()
	return mpi.Init()
}
