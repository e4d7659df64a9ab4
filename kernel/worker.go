package kernel

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gompi-kernel/gompi-kernel/kernel/session"
	"github.com/gompi-kernel/gompi-kernel/mpi"
	"github.com/gompi-kernel/gompi-kernel/registry"
)

// Worker is the event loop of ranks 1..N-1 (pyMOR's event_loop): it waits,
// resting, for rank 0's commands, runs each cell in its own copy of the
// interpreter, streams the cell's output to rank 0 while it runs and reports
// how the cell ended.
type Worker struct {
	fabric *Fabric
	rank   *Rank
	log    *slog.Logger
	loops  chan chan struct{} // a cell's EventLoop asks the loop to serve

	mu   sync.Mutex
	poke func() // wakes the loop of the running cell; nil between cells
}

func (w *Worker) setPoke(p func()) {
	w.mu.Lock()
	w.poke = p
	w.mu.Unlock()
}

// pokeLoop wakes the running cell's loop, if any.
func (w *Worker) pokeLoop() {
	w.mu.Lock()
	p := w.poke
	w.mu.Unlock()
	if p != nil {
		p()
	}
}

// NewWorker prepares the event loop of one worker rank.
func NewWorker(f *Fabric, r *Rank, log *slog.Logger) *Worker {
	w := &Worker{fabric: f, rank: r, log: log, loops: make(chan chan struct{})}
	r.driver.setLooper(w)
	return w
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
		case cmdCall, cmdQuitLoop, cmdEndCell:
			// Left over from a cell that ended before this rank served
			// (a Quit for a rank that never entered EventLoop).
			w.log.Debug("stale command ignored", "kind", c.Kind, "seq", c.Seq)
		default:
			w.log.Warn("unknown command ignored", "kind", c.Kind)
		}
	}
}

// execute runs one cell here, or serves it: a rank that does not run the
// cell (a %%rank0 cell) serves rank 0's Calls until the cell ends, and a
// rank whose cell calls mpi.EventLoop serves them until rank 0's Quit.
// Throughout, it watches for an interrupt from rank 0.
func (w *Worker) execute(ctx context.Context, c command) error {
	cellCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	sink := &remoteSink{ctx: ctx, fabric: w.fabric, seq: c.Seq}
	w.rank.setSink(sink)
	runs := c.runs(w.fabric.rank)

	// The loop below sleeps until something happens: the cell ends, a
	// Call ends, the cell enters EventLoop, or rank 0 rings the doorbell
	// (interrupt, Call, Quit, end of cell). Polling instead every
	// millisecond cost 0.13 of a core per rank, taken from the cell.
	wake := make(chan struct{}, 1)
	poke := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-w.fabric.bell.C():
				poke()
			case <-stop:
				return
			}
		}
	}()
	w.setPoke(poke)
	defer w.setPoke(nil)

	var done chan doneReport
	if runs {
		done = make(chan doneReport, 1)
		go func() {
			done <- w.rank.Execute(cellCtx, c.Code, sink)
			poke()
		}()
	}
	s := &serving{on: !runs, poke: poke}

	var report doneReport
	poller := &mpi.Poller{Spin: 50, Min: 50 * time.Microsecond, Max: 100 * time.Millisecond, Wake: wake}
	err := poller.Wait(ctx, func() (bool, error) {
		if done != nil {
			select {
			case report = <-done:
				return true, nil
			default:
			}
		}
		select {
		case release := <-w.loops:
			s.on, s.release = true, release
			if err := w.fabric.Send(ctx, event{Kind: evServing, Seq: c.Seq, Rank: w.fabric.rank}); err != nil {
				return false, err
			}
		default:
		}
		if s.call != nil {
			select {
			case r := <-s.call:
				s.call, s.cancelCall = nil, nil
				if err := w.fabric.Send(ctx, event{Kind: evCallDone, Seq: c.Seq, Rank: w.fabric.rank, Call: r.call, Err: r.err}); err != nil {
					return false, err
				}
			default:
			}
		}
		hit, err := w.fabric.PendingInterrupt(c.Seq)
		if err != nil {
			return false, err
		}
		if hit {
			w.log.Debug("interrupt", "seq", c.Seq)
			cancel()
			if s.cancelCall != nil {
				s.cancelCall()
			}
			s.stop()
			if !runs {
				s.on = true // still serving: only the cell's end releases it
			}
		}
		if !s.on || s.call != nil {
			return false, nil
		}
		cmd, ok, err := w.fabric.TryCommand()
		if err != nil || !ok {
			return false, err
		}
		if cmd.Seq != c.Seq {
			w.log.Warn("command for another cell dropped", "kind", cmd.Kind, "seq", cmd.Seq, "cell", c.Seq)
			return false, nil
		}
		switch cmd.Kind {
		case cmdCall:
			s.startCall(cellCtx, w.rank, cmd)
		case cmdQuitLoop:
			s.stop()
			if !runs {
				s.on = true // a rank outside the cell serves until it ends
			}
		case cmdEndCell:
			if !runs {
				report = doneReport{Dirty: w.rank.world.Dirty(), Where: w.rank.world.Abandoned()}
				return true, nil
			}
		default:
			w.log.Warn("unexpected command while serving", "kind", cmd.Kind)
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("run cell %d: %w", c.Seq, err)
	}
	s.stop()
	return w.fabric.Send(ctx, event{Kind: evDone, Seq: c.Seq, Rank: w.fabric.rank, Result: &report})
}

// serving is a worker's state while it serves rank 0's Calls in a cell.
type serving struct {
	poke       func() // wakes the worker's loop
	on         bool
	release    chan struct{} // closed to let the cell's EventLoop return
	call       chan callResult
	cancelCall context.CancelFunc
}

type callResult struct {
	call uint64
	err  *session.Error
}

// stop ends serving for a cell in EventLoop (Quit or interrupt).
func (s *serving) stop() {
	if s.release != nil {
		close(s.release)
		s.release = nil
	}
	s.on = false
}

// startCall runs rank 0's Call here, in the background so that the loop
// keeps watching for interrupts.
func (s *serving) startCall(ctx context.Context, r *Rank, c command) {
	callCtx, cancel := context.WithCancel(ctx)
	s.cancelCall = cancel
	s.call = make(chan callResult, 1)
	go func(out chan<- callResult, poke func()) {
		defer poke()
		defer cancel()
		args, err := registry.DecodeArgs(c.Args)
		if err != nil {
			out <- callResult{c.Call, &session.Error{Name: "CallError", Value: err.Error()}}
			return
		}
		_, e := r.Invoke(callCtx, c.Fn, args)
		out <- callResult{c.Call, e}
	}(s.call, s.poke)
}

// eventLoop is mpi.EventLoop on a worker: it hands the loop a channel and
// waits until the loop closes it (rank 0's Quit, or an interrupt).
func (w *Worker) eventLoop(ctx context.Context) error {
	release := make(chan struct{})
	w.pokeLoop()
	select {
	case w.loops <- release:
	case <-ctx.Done():
		return fmt.Errorf("EventLoop: %w", ctx.Err())
	}
	select {
	case <-release:
		return ctx.Err()
	case <-ctx.Done():
		return fmt.Errorf("EventLoop: %w", ctx.Err())
	}
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

// Input is refused: standard input belongs to rank 0, where the frontend is.
func (s *remoteSink) Input(string, bool) (string, error) {
	return "", fmt.Errorf("rank %d has no standard input; only rank 0 reads it from the frontend", s.fabric.rank)
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
