package kernel

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gompi-kernel/gompi-kernel/kernel/session"
)

// stuckGrace is how long the coordinator lets the other ranks go on after one
// rank failed before it interrupts them: ranks still running then are almost
// always waiting in a collective for the rank that failed.
const stuckGrace = time.Second

// Coordinator is rank 0's side of the kernel: it runs each cell on every
// rank (its own included), merges their output into one labelled stream and
// folds their outcomes into one reply. It implements Interpreter.
type Coordinator struct {
	fabric *Fabric
	rank   *Rank
	log    *slog.Logger

	// execMu serialises cells: the Jupyter shell channel delivers one
	// request at a time, this guards against misuse from scripts and tests.
	execMu sync.Mutex

	mu   sync.Mutex
	seq  uint64
	cur  *execution // the running cell, nil when idle
	last *execution // the latest cell, for output of goroutines that outlive it

	stopReceiver context.CancelFunc
	receiverDone chan struct{}
}

// NewCoordinator starts rank 0's receiver of worker events.
func NewCoordinator(f *Fabric, r *Rank, log *slog.Logger) *Coordinator {
	ctx, cancel := context.WithCancel(context.Background())
	c := &Coordinator{fabric: f, rank: r, log: log, stopReceiver: cancel, receiverDone: make(chan struct{})}
	go c.receive(ctx)
	return c
}

// receive dispatches worker events to the cell they belong to.
func (c *Coordinator) receive(ctx context.Context) {
	defer close(c.receiverDone)
	if c.fabric.Size() == 1 {
		return
	}
	for {
		ev, err := c.fabric.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.log.Error("receiving from workers", "err", err)
			continue
		}
		c.mu.Lock()
		x := c.cur
		if x == nil || x.seq != ev.Seq {
			x = c.last
		}
		c.mu.Unlock()
		if x == nil {
			c.log.Warn("event without a cell dropped", "rank", ev.Rank, "kind", ev.Kind)
			continue
		}
		x.handle(ev)
	}
}

// Execute runs code on every rank.
func (c *Coordinator) Execute(ctx context.Context, code string, out Output) Outcome {
	c.execMu.Lock()
	defer c.execMu.Unlock()

	localCtx, cancelLocal := context.WithCancel(ctx)
	defer cancelLocal()
	c.mu.Lock()
	c.seq++
	x := newExecution(c.seq, c.fabric.Size(), out, cancelLocal)
	c.cur, c.last = x, x
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.cur = nil
		c.mu.Unlock()
	}()

	if err := c.fabric.Broadcast(ctx, command{Kind: cmdExecute, Seq: x.seq, Code: code}); err != nil {
		return Outcome{Err: &session.Error{Name: "KernelError", Value: fmt.Sprintf("cannot reach the workers: %v", err)}}
	}
	go func() {
		x.finish(0, c.rank.Execute(localCtx, code, rankSink{x, 0}))
	}()

	interrupted := c.await(ctx, x)
	x.labels.flush()
	reports := x.reportsCopy()
	if anyDirty(reports) {
		if err := c.renew(ctx); err != nil {
			c.log.Error("renewing the cells' communicator", "err", err)
		}
	}
	return Outcome{Data: reports[0].Data, Err: foldErrors(reports, interrupted)}
}

// await waits until every rank has reported. Once a rank has failed, the
// others get stuckGrace to finish; those still running are then interrupted
// and listed in the error.
func (c *Coordinator) await(ctx context.Context, x *execution) (interrupted []int) {
	var grace <-chan time.Time
	failed := x.failed
	for {
		select {
		case <-x.allDone:
			return interrupted
		case <-failed:
			failed = nil
			t := time.NewTimer(stuckGrace)
			defer t.Stop()
			grace = t.C
		case <-grace:
			grace = nil
			interrupted = x.pending()
			c.log.Warn("interrupting ranks stuck after a failure", "ranks", interrupted)
			c.interrupt(ctx, x, interrupted)
		case <-ctx.Done():
			c.interrupt(context.Background(), x, x.pending())
			<-x.allDone
			return interrupted
		}
	}
}

// Interrupt stops the running cell on every rank that still runs it.
func (c *Coordinator) Interrupt() {
	c.mu.Lock()
	x := c.cur
	c.mu.Unlock()
	if x == nil {
		return
	}
	c.interrupt(context.Background(), x, x.pending())
}

func (c *Coordinator) interrupt(ctx context.Context, x *execution, ranks []int) {
	for _, r := range ranks {
		if r == 0 {
			x.cancelLocal()
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.fabric.Interrupt(ctx, x.seq, ranks); err != nil {
		c.log.Error("sending interrupt", "err", err)
	}
}

// renew replaces the cells' communicator on every rank after an operation
// on it was abandoned (an interrupt inside a collective).
func (c *Coordinator) renew(ctx context.Context) error {
	if err := c.fabric.Broadcast(ctx, command{Kind: cmdRenew}); err != nil {
		return err
	}
	return c.rank.Renew()
}

// Reset gives every rank a fresh interpreter.
func (c *Coordinator) Reset(ctx context.Context) error {
	c.execMu.Lock()
	defer c.execMu.Unlock()
	if err := c.fabric.Broadcast(ctx, command{Kind: cmdReset}); err != nil {
		return err
	}
	return c.rank.Reset()
}

// Complete answers from rank 0's interpreter: every rank holds the same
// definitions, so asking the others would only add latency.
func (c *Coordinator) Complete(code string, cursor int) session.Completion {
	return c.rank.Session().Complete(code, cursor)
}

// Inspect answers from rank 0's interpreter, as Complete.
func (c *Coordinator) Inspect(code string, cursor, detail int) (map[string]any, bool) {
	return c.rank.Session().Inspect(code, cursor, detail)
}

// IsComplete needs no interpreter state.
func (c *Coordinator) IsComplete(code string) (string, string) {
	return session.IsComplete(code)
}

// Banner names the language and the number of ranks.
func (c *Coordinator) Banner() string {
	return fmt.Sprintf("gompi-kernel %s: Go (yaegi) on %d MPI rank(s). Every cell runs on every rank; output is labelled [rank].",
		Version(), c.fabric.Size())
}

// Shutdown ends the workers' event loops and rank 0's receiver.
func (c *Coordinator) Shutdown(ctx context.Context) error {
	c.Interrupt()
	c.execMu.Lock()
	defer c.execMu.Unlock()
	err := c.fabric.Broadcast(ctx, command{Kind: cmdQuit})
	c.stopReceiver()
	<-c.receiverDone
	if err != nil {
		return fmt.Errorf("tell workers to quit: %w", err)
	}
	return nil
}

func anyDirty(reports []doneReport) bool {
	for _, r := range reports {
		if r.Dirty {
			return true
		}
	}
	return false
}

// execution is one cell in flight on rank 0.
type execution struct {
	seq         uint64
	out         Output
	labels      *labeller
	cancelLocal context.CancelFunc

	mu      sync.Mutex
	reports []doneReport
	done    []bool
	left    int
	allDone chan struct{}
	failed  chan struct{} // closed at the first failure
	onFail  sync.Once
}

func newExecution(seq uint64, size int, out Output, cancelLocal context.CancelFunc) *execution {
	return &execution{
		seq:         seq,
		out:         out,
		labels:      newLabeller(out, size),
		cancelLocal: cancelLocal,
		reports:     make([]doneReport, size),
		done:        make([]bool, size),
		left:        size,
		allDone:     make(chan struct{}),
		failed:      make(chan struct{}),
	}
}

func (x *execution) handle(ev event) {
	switch ev.Kind {
	case evStream:
		x.labels.write(ev.Rank, ev.Name, ev.Text)
	case evDisplay:
		if ev.Display == nil {
			return
		}
		// Text printed before the display shows above it.
		x.labels.flush()
		d := *ev.Display
		md := map[string]any{}
		for k, v := range d.Metadata {
			md[k] = v
		}
		md["rank"] = ev.Rank
		d.Metadata = md
		x.out.Display(d)
	case evClear:
		x.labels.flush()
		x.out.Clear(ev.Wait)
	case evDone:
		if ev.Result == nil {
			ev.Result = &doneReport{Err: &session.Error{Name: "KernelError", Value: "rank sent no result"}}
		}
		x.finish(ev.Rank, *ev.Result)
	}
}

func (x *execution) finish(rank int, r doneReport) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if rank < 0 || rank >= len(x.done) || x.done[rank] {
		return
	}
	x.done[rank] = true
	x.reports[rank] = r
	x.left--
	if r.Err != nil {
		x.onFail.Do(func() { close(x.failed) })
	}
	if x.left == 0 {
		close(x.allDone)
	}
}

func (x *execution) pending() []int {
	x.mu.Lock()
	defer x.mu.Unlock()
	var p []int
	for r, d := range x.done {
		if !d {
			p = append(p, r)
		}
	}
	return p
}

func (x *execution) reportsCopy() []doneReport {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]doneReport(nil), x.reports...)
}

// rankSink is rank 0's own Sink: its output joins the workers' in the
// execution's labeller.
type rankSink struct {
	x    *execution
	rank int
}

func (s rankSink) Stream(name, text string) { s.x.labels.write(s.rank, name, text) }

func (s rankSink) Display(d Display) {
	s.x.handle(event{Kind: evDisplay, Rank: s.rank, Display: &d})
}

func (s rankSink) Clear(wait bool) {
	s.x.handle(event{Kind: evClear, Rank: s.rank, Wait: wait})
}
