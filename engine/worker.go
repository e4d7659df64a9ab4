package engine

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gompi-kernel/gompi-kernel/kernel"
	"github.com/gompi-kernel/gompi-kernel/kernel/session"
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
		if err := w.fabric.forward(ctx, c); err != nil {
			return fmt.Errorf("forward %v: %w", c.Kind, err)
		}
		switch c.Kind {
		case cmdQuit:
			w.log.Debug("quit")
			return nil
		case cmdExecute:
			if err := w.execute(ctx, c); err != nil {
				return err
			}
		case cmdLoad:
			if err := w.load(ctx, c); err != nil {
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
	x := w.startCell(ctx, c)
	defer x.close()
	run := x.loop
	if x.runs {
		run = x.runHere
	}
	if err := run(ctx, x.step); err != nil {
		return fmt.Errorf("run cell %d: %w", c.Seq, err)
	}
	x.serve.stop()
	if x.gather == nil {
		return w.fabric.Send(ctx, event{Kind: evDone, Seq: c.Seq, Rank: w.fabric.rank, Result: &x.report})
	}
	x.report.Events = int(x.out.sent.Load())
	if err := x.gather.add(ctx, []rankReport{{Rank: w.fabric.rank, Result: x.report}}); err != nil {
		return fmt.Errorf("cell %d: %w", c.Seq, err)
	}
	// An inner rank of the tree stays with the cell until its subtree
	// has reported.
	if err := x.loop(ctx, x.collect); err != nil {
		return fmt.Errorf("cell %d: collect done reports: %w", c.Seq, err)
	}
	return nil
}

// Bounds of the cell loop's sleeps between looks when nothing wakes it.
const (
	cellLookMin = 10 * time.Millisecond
	cellLookMax = 100 * time.Millisecond
)

// loop steps the cell until it is over here. It sleeps until something
// happens: the cell ends, a Call ends, the cell enters EventLoop (each of
// these pokes it), or rank 0 rings the doorbell (interrupt, Call, Quit, end
// of cell). Polling instead every millisecond cost 0.13 of a core per rank,
// taken from the cell, and spinning first (50 looks) a tenth of a
// millisecond per cell. The sleeps, from cellLookMin doubling to
// cellLookMax, only bound the delay should a ring come before its message.
//
// The loop waits on the bell itself rather than through a relay goroutine
// that turns rings into pokes: starting and stopping such a goroutine for
// every cell cost a worker ~7 % of its CPU per trivial cell (two goroutine
// hand-offs, each waking another thread). Only this goroutine consumes the
// bell, during a cell as between cells (Fabric.rest), so no ring is eaten
// elsewhere.
func (x *workerCell) loop(ctx context.Context, step func() (bool, error)) error {
	d := cellLookMin
	var timer *time.Timer
	for {
		// step is called at least once, even with a cancelled ctx, so that
		// a cell that has ended is not reported as cancelled.
		if done, err := step(); err != nil || done {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if timer == nil {
			timer = time.NewTimer(d)
			defer timer.Stop()
		} else {
			timer.Reset(d)
		}
		select {
		case <-x.wake:
			d = cellLookMin
		case <-x.w.fabric.bell.C():
			d = cellLookMin
		case <-timer.C:
			d = min(2*d, cellLookMax)
		case <-ctx.Done():
			if done, err := step(); err != nil || done {
				return err
			}
			return ctx.Err()
		}
	}
}

// workerCell is one cell on a worker: what its loop watches, and one method
// for each thing that can happen while it runs.
type workerCell struct {
	w      *Worker
	ctx    context.Context // the worker's: sends to rank 0 obey it
	cmd    command
	runs   bool               // this rank runs the cell (else it only serves)
	cell   context.Context    // the cell's own, cancelled by an interrupt
	cancel context.CancelFunc // interrupts the cell
	done   chan doneReport    // the cell's result, once it ends here; nil if it does not run here
	wake   chan struct{}      // wakes the loop
	serve  serving
	report doneReport
	out    *remoteOutput // the cell's events to rank 0, counted
	gather *gather       // the done reports' way up the tree; nil: straight to rank 0
}

// startCell starts the cell where it runs.
func (w *Worker) startCell(ctx context.Context, c command) *workerCell {
	x := &workerCell{w: w, ctx: ctx, cmd: c, runs: c.runs(w.fabric.rank),
		wake: make(chan struct{}, 1)}
	x.cell, x.cancel = context.WithCancel(ctx)
	x.serve = serving{on: !x.runs, poke: x.poke}
	x.out = &remoteOutput{ctx: ctx, fabric: w.fabric, seq: c.Seq, log: w.log}
	x.gather = newGather(w.fabric, c)
	w.rank.setOutput(x.out)
	w.setPoke(x.poke)
	if x.runs {
		x.done = make(chan doneReport, 1)
	}
	return x
}

// watchAfter is how long a worker runs a cell before a second goroutine
// starts to watch for what may happen meanwhile (workerCell.step).
const watchAfter = time.Millisecond

// runHere runs the cell on this goroutine. Only a cell still running after
// watchAfter gets a goroutine that steps the cell loop (interrupts, Calls,
// EventLoop, children's done reports) until it ends. A trivial cell thus
// costs no goroutine hand-off: with a second Go processor idle, each
// hand-off also woke another thread, and a cell run on its own goroutine
// (then on a cell thread) cost four per cell, ~5 % of a worker's CPU for
// x = 1 at 4 ranks on 2 cores. A cell that enters mpi.EventLoop within watchAfter waits for the
// watcher to take it.
func (x *workerCell) runHere(ctx context.Context, step func() (bool, error)) error {
	watched := make(chan error, 1)
	t := time.AfterFunc(watchAfter, func() { watched <- x.loop(ctx, step) })
	report := x.w.rank.Execute(x.cell, x.cmd.Code, x.cmd.Label, x.out)
	if t.Stop() {
		x.report = report
		return nil
	}
	x.done <- report
	x.poke()
	return <-watched
}

// close ends what startCell started, once the cell is over here.
func (x *workerCell) close() {
	x.w.setPoke(nil)
	x.cancel()
}

// poke wakes the loop without blocking.
func (x *workerCell) poke() {
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

// step looks once at everything that can happen during a cell; it reports
// true once the cell is over on this rank (x.report says how).
func (x *workerCell) step() (bool, error) {
	if x.gather != nil {
		// An inner rank passes its children's failures up while its own
		// part of the cell still runs (it may wait for them in a collective).
		if err := x.gather.poll(x.ctx); err != nil {
			return false, err
		}
	}
	if x.cellEnded() {
		return true, nil
	}
	if err := x.enterEventLoop(); err != nil {
		return false, err
	}
	if err := x.reportCall(); err != nil {
		return false, err
	}
	if err := x.checkInterrupt(); err != nil {
		return false, err
	}
	return x.serveCommand()
}

// cellEnded reports whether the cell's code finished here.
func (x *workerCell) cellEnded() bool {
	if x.done == nil {
		return false
	}
	select {
	case x.report = <-x.done:
		return true
	default:
		return false
	}
}

// enterEventLoop starts serving when the cell called mpi.EventLoop, and
// tells rank 0 so that its Calls may go ahead.
func (x *workerCell) enterEventLoop() error {
	select {
	case release := <-x.w.loops:
		x.serve.on, x.serve.release = true, release
		return x.out.report(event{Kind: evServing})
	default:
		return nil
	}
}

// reportCall tells rank 0 that the Call this rank ran has finished.
func (x *workerCell) reportCall() error {
	if x.serve.call == nil {
		return nil
	}
	select {
	case r := <-x.serve.call:
		x.serve.call, x.serve.cancelCall = nil, nil
		return x.out.report(event{Kind: evCallDone, Call: r.call, Err: r.err})
	default:
		return nil
	}
}

// checkInterrupt cancels the cell and any Call when rank 0 interrupts.
// Both an interrupt and a flush request make the rank pass up the done
// reports it holds.
func (x *workerCell) checkInterrupt() error {
	in, hit, err := x.w.fabric.PendingInterrupt(x.cmd.Seq)
	if err != nil || !hit {
		return err
	}
	if x.gather != nil {
		if err := x.gather.flush(x.ctx); err != nil {
			return err
		}
	}
	if in.Flush {
		return nil
	}
	x.w.log.Debug("interrupt", "seq", x.cmd.Seq)
	x.cancel()
	if x.serve.cancelCall != nil {
		x.serve.cancelCall()
	}
	x.serve.stop()
	if !x.runs {
		x.serve.on = true // still serving: only the cell's end releases it
	}
	return nil
}

// collect is the step of an inner rank of the tree once its own part of
// the cell has ended: it passes its children's reports up until the whole
// subtree has reported.
func (x *workerCell) collect() (bool, error) {
	if err := x.gather.poll(x.ctx); err != nil {
		return false, err
	}
	if x.gather.complete() {
		return true, nil
	}
	in, hit, err := x.w.fabric.PendingInterrupt(x.cmd.Seq)
	if err != nil || !hit {
		return false, err
	}
	x.w.log.Debug("flush done reports", "seq", x.cmd.Seq, "interrupt", !in.Flush)
	return false, x.gather.flush(x.ctx)
}

// serveCommand takes rank 0's next command while serving: a Call, a Quit,
// or the end of a cell this rank only served.
func (x *workerCell) serveCommand() (bool, error) {
	if !x.serve.on || x.serve.call != nil {
		return false, nil
	}
	cmd, ok, err := x.w.fabric.TryCommand()
	if err != nil || !ok {
		return false, err
	}
	if cmd.Seq != x.cmd.Seq {
		x.w.log.Warn("command for another cell dropped", "kind", cmd.Kind, "seq", cmd.Seq, "cell", x.cmd.Seq)
		return false, nil
	}
	switch cmd.Kind {
	case cmdCall:
		x.serve.startCall(x.cell, x.w.rank, cmd)
	case cmdQuitLoop:
		x.serve.stop()
		if !x.runs {
			x.serve.on = true // a rank outside the cell serves until it ends
		}
	case cmdEndCell:
		if !x.runs {
			world := x.w.rank.world
			x.report = doneReport{Dirty: world.Dirty(), Where: world.Abandoned()}
			return true, nil
		}
	default:
		x.w.log.Warn("unexpected command while serving", "kind", cmd.Kind)
	}
	return false, nil
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

// remoteOutput forwards a worker's output to rank 0 as it is produced,
// and the cell's other events.
type remoteOutput struct {
	ctx    context.Context
	fabric *Fabric
	seq    uint64
	log    *slog.Logger
	sent   atomic.Int64 // events sent (doneReport.Events)
}

func (s *remoteOutput) Stream(name, text string, _ map[string]any) {
	s.send(event{Kind: evStream, Name: name, Text: text})
}

func (s *remoteOutput) Display(d kernel.Display) {
	s.send(event{Kind: evDisplay, Display: &d})
}

// Input is refused: standard input belongs to rank 0, where the frontend is.
func (s *remoteOutput) Input(string, bool) (string, error) {
	return "", fmt.Errorf("rank %d has no standard input; only rank 0 reads it from the frontend", s.fabric.rank)
}

func (s *remoteOutput) Clear(wait bool) {
	s.send(event{Kind: evClear, Wait: wait})
}

// report sends one of the cell's events to rank 0 and counts it.
func (s *remoteOutput) report(e event) error {
	e.Seq = s.seq
	e.Rank = s.fabric.rank
	if err := s.fabric.Send(s.ctx, e); err != nil {
		return err
	}
	s.sent.Add(1)
	return nil
}

func (s *remoteOutput) send(e event) {
	start := time.Now()
	if err := s.report(e); err != nil {
		// Output that cannot reach rank 0 is lost, but the cell goes on: the
		// evDone that follows will fail the same way and end the loop.
		s.log.Warn("output lost", "rank", s.fabric.rank, "err", err, "after", time.Since(start))
	}
}
