package kernel

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Worker is the event loop of ranks 1..N-1 (pyMOR's event_loop): it waits,
// resting, for rank 0's commands, runs each cell in its own copy of the
// interpreter, streams the cell's output to rank 0 while it runs and reports
// how the cell ended.
type Worker struct {
	fabric *Fabric
	rank   *Rank
	log    *slog.Logger
}

// NewWorker prepares the event loop of one worker rank.
func NewWorker(f *Fabric, r *Rank, log *slog.Logger) *Worker {
	return &Worker{fabric: f, rank: r, log: log}
}

// Run serves commands until rank 0 says quit. A returned error means the
// fabric itself failed; the caller should abort the MPI job, since rank 0
// can no longer reach this rank.
func (w *Worker) Run(ctx context.Context) error {
	for {
		c, err := w.fabric.NextCommand(ctx)
		if err != nil {
			if ctx.Err() != nil {
				// SIGTERM: mpirun ends the job (a rank died, or the
				// frontend killed the kernel). Nothing to report.
				w.log.Debug("terminated", "err", err)
				return nil
			}
			return err
		}
		switch c.Kind {
		case cmdQuit:
			w.log.Debug("quit")
			return nil
		case cmdExecute:
			if err := w.execute(ctx, c); err != nil {
				return err
			}
		case cmdRenew:
			if err := w.rank.Renew(); err != nil {
				return fmt.Errorf("renew cells' communicator: %w", err)
			}
		case cmdReset:
			if err := w.rank.Reset(); err != nil {
				return fmt.Errorf("reset interpreter: %w", err)
			}
		default:
			w.log.Warn("unknown command ignored", "kind", c.Kind)
		}
	}
}

// execute runs one cell here while watching for an interrupt from rank 0.
func (w *Worker) execute(ctx context.Context, c command) error {
	cellCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	sink := &remoteSink{ctx: ctx, fabric: w.fabric, seq: c.Seq}
	done := make(chan doneReport, 1)
	go func() { done <- w.rank.Execute(cellCtx, c.Code, sink) }()

	var report doneReport
	err := w.fabric.busy.Wait(ctx, func() (bool, error) {
		select {
		case report = <-done:
			return true, nil
		default:
		}
		hit, err := w.fabric.PendingInterrupt(c.Seq)
		if err != nil {
			return false, err
		}
		if hit {
			w.log.Debug("interrupt", "seq", c.Seq)
			cancel()
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("run cell %d: %w", c.Seq, err)
	}
	return w.fabric.Send(ctx, event{Kind: evDone, Seq: c.Seq, Rank: w.fabric.rank, Result: &report})
}

// remoteSink forwards a worker's output to rank 0 as it is produced.
type remoteSink struct {
	ctx    context.Context
	fabric *Fabric
	seq    uint64
}

func (s *remoteSink) Stream(name, text string) {
	s.send(event{Kind: evStream, Name: name, Text: text})
}

func (s *remoteSink) Display(d Display) {
	s.send(event{Kind: evDisplay, Display: &d})
}

func (s *remoteSink) Clear(wait bool) {
	s.send(event{Kind: evClear, Wait: wait})
}

func (s *remoteSink) send(e event) {
	e.Seq = s.seq
	e.Rank = s.fabric.rank
	start := time.Now()
	if err := s.fabric.Send(s.ctx, e); err != nil {
		// Output that cannot reach rank 0 is lost, but the cell goes on: the
		// evDone that follows will fail the same way and end the loop.
		slog.Default().Warn("output lost", "rank", e.Rank, "err", err, "after", time.Since(start))
	}
}
