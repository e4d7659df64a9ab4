package kernel

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gompi-kernel/gompi-kernel/kernel/session"
	"github.com/gompi-kernel/gompi-kernel/registry"
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
	r.driver.setCaller(c)
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

// Execute runs a cell: on every rank, or on the ranks its first line names
// (%%rank0, %%ranks 0,2-3) while the others serve Calls.
func (c *Coordinator) Execute(ctx context.Context, code string, out Output) Outcome {
	cell, err := parseCell(code, c.fabric.Size())
	if err != nil {
		return Outcome{Err: &session.Error{Name: "UsageError", Value: err.Error()}}
	}
	if cell.action != "" {
		return c.magic(ctx, cell, out)
	}
	res := c.ExecuteOn(ctx, cell.code, cell.ranks, out)
	if cell.time {
		out.Stream("stdout", wallTimes(res.Seconds), nil)
	}
	return res
}

// ExecuteOn runs code on ranks (nil: all); the other ranks serve rank 0's
// Calls until it ends.
func (c *Coordinator) ExecuteOn(ctx context.Context, code string, ranks []int, out Output) Outcome {
	c.execMu.Lock()
	defer c.execMu.Unlock()

	localCtx, cancelLocal := context.WithCancel(ctx)
	defer cancelLocal()
	cmd := command{Kind: cmdExecute, Code: code, Ranks: ranks}
	c.mu.Lock()
	c.seq++
	cmd.Seq = c.seq
	x := newExecution(cmd, c.fabric.Size(), out, cancelLocal)
	x.ctx = localCtx
	c.cur, c.last = x, x
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.cur = nil
		c.mu.Unlock()
	}()

	if err := c.fabric.Broadcast(ctx, cmd); err != nil {
		return Outcome{Err: &session.Error{Name: "KernelError", Value: fmt.Sprintf("cannot reach the workers: %v", err)}}
	}
	if cmd.runs(0) {
		go func() {
			report := c.rank.Execute(localCtx, code, rankSink{x, 0})
			// Rank 0 is done calling: release any rank still in (or yet to
			// enter) EventLoop, as pyMOR's script mode quits at the end.
			if err := c.quitFor(context.Background(), x); err != nil {
				c.log.Error("releasing ranks in EventLoop", "err", err)
			}
			x.finish(0, report)
		}()
	} else {
		c.rank.setSink(rankSink{x, 0})
		x.finish(0, doneReport{})
	}

	interrupted := c.await(ctx, x)
	x.labels.flush()
	reports := x.reportsCopy()
	if anyDirty(reports) {
		if err := c.renew(ctx); err != nil {
			c.log.Error("renewing the cells' communicator", "err", err)
		}
	}
	seconds := make([]float64, len(reports))
	for r, rep := range reports {
		seconds[r] = rep.Seconds
		if !x.runs[r] {
			seconds[r] = -1
		}
	}
	return Outcome{Data: reports[0].Data, Err: foldErrors(reports, interrupted), Seconds: seconds}
}

// await waits until every rank has reported. Once a rank has failed, the
// others get stuckGrace to finish; those still running are then interrupted
// and listed in the error.
func (c *Coordinator) await(ctx context.Context, x *execution) (interrupted []int) {
	var grace <-chan time.Time
	failed := x.failed
	members := x.membersDone
	for {
		select {
		case <-x.allDone:
			return interrupted
		case <-members:
			// The cell has ended where it ran; the ranks that only served
			// it report done once told.
			members = nil
			if err := c.fabric.SendCommand(ctx, x.servers(), command{Kind: cmdEndCell, Seq: x.seq}); err != nil {
				c.log.Error("ending a driver cell", "err", err)
			}
		case <-failed:
			failed = nil
			t := time.NewTimer(stuckGrace)
			defer t.Stop()
			grace = t.C
		case <-grace:
			grace = nil
			interrupted = x.pendingMembers()
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
	ctx         context.Context // rank 0's cell: Call and Quit obey it
	runs        []bool          // which ranks run the cell (the others serve)
	callSeq     uint64          // Calls made so far (under mu)

	mu          sync.Mutex
	reports     []doneReport
	done        []bool
	left        int           // ranks not done
	membersLeft int           // ranks running the cell not done
	allDone     chan struct{} // every rank reported
	membersDone chan struct{} // every rank running the cell reported
	failed      chan struct{} // closed at the first failure
	onFail      sync.Once
	serving     []bool        // the rank serves Calls now
	changed     chan struct{} // closed and replaced when serving or done changes
	calls       map[uint64]*pendingCall
}

// pendingCall collects the workers' answers to one Call.
type pendingCall struct {
	left int
	errs map[int]*session.Error
	done chan struct{}
}

func newExecution(c command, size int, out Output, cancelLocal context.CancelFunc) *execution {
	x := &execution{
		seq:         c.Seq,
		out:         out,
		labels:      newLabeller(out, size),
		cancelLocal: cancelLocal,
		runs:        make([]bool, size),
		reports:     make([]doneReport, size),
		done:        make([]bool, size),
		left:        size,
		allDone:     make(chan struct{}),
		membersDone: make(chan struct{}),
		failed:      make(chan struct{}),
		serving:     make([]bool, size),
		changed:     make(chan struct{}),
		calls:       map[uint64]*pendingCall{},
	}
	for r := range x.runs {
		x.runs[r] = c.runs(r)
		if x.runs[r] {
			x.membersLeft++
		} else {
			x.serving[r] = true
		}
	}
	if x.membersLeft == 0 {
		close(x.membersDone)
	}
	return x
}

// signal wakes whoever waits for a change of serving or done states.
// x.mu is held.
func (x *execution) signal() {
	close(x.changed)
	x.changed = make(chan struct{})
}

// servers lists the worker ranks that only serve the cell.
func (x *execution) servers() []int {
	var s []int
	for r := 1; r < len(x.runs); r++ {
		if !x.runs[r] {
			s = append(s, r)
		}
	}
	return s
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
	case evServing:
		x.mu.Lock()
		if ev.Rank >= 0 && ev.Rank < len(x.serving) {
			x.serving[ev.Rank] = true
			x.signal()
		}
		x.mu.Unlock()
	case evCallDone:
		x.mu.Lock()
		if p := x.calls[ev.Call]; p != nil && p.left > 0 {
			if ev.Err != nil {
				p.errs[ev.Rank] = ev.Err
			}
			p.left--
			if p.left == 0 {
				close(p.done)
			}
		}
		x.mu.Unlock()
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
	x.serving[rank] = false
	x.left--
	if x.runs[rank] {
		x.membersLeft--
		if x.membersLeft == 0 {
			close(x.membersDone)
		}
	}
	if r.Err != nil {
		x.onFail.Do(func() { close(x.failed) })
	}
	if x.left == 0 {
		close(x.allDone)
	}
	x.signal()
}

// pendingMembers lists the ranks still running the cell.
func (x *execution) pendingMembers() []int {
	x.mu.Lock()
	defer x.mu.Unlock()
	var p []int
	for r, d := range x.done {
		if !d && x.runs[r] {
			p = append(p, r)
		}
	}
	return p
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

func (s rankSink) Input(prompt string, password bool) (string, error) {
	// Text the cell printed before asking shows above the prompt.
	s.x.labels.flush()
	return s.x.out.Input(prompt, password)
}

func (s rankSink) Clear(wait bool) {
	s.x.handle(event{Kind: evClear, Rank: s.rank, Wait: wait})
}

// call is mpi.Call on rank 0: run fn(args) on every rank, once every worker
// serves (a %%rank0 cell's other ranks do from the start; a cell's ranks do
// once they call mpi.EventLoop), and return rank 0's result.
func (c *Coordinator) call(fn string, args []any) (any, error) {
	c.mu.Lock()
	x := c.cur
	c.mu.Unlock()
	if x == nil || x.ctx == nil {
		return nil, fmt.Errorf("Call(%q): no cell is running", fn)
	}
	ctx := x.ctx
	if err := x.awaitServing(ctx, fn); err != nil {
		return nil, err
	}
	payload, err := registry.EncodeArgs(args)
	if err != nil {
		return nil, fmt.Errorf("Call(%q): %w", fn, err)
	}
	workers := c.fabric.workers()
	x.mu.Lock()
	x.callSeq++
	id := x.callSeq
	p := &pendingCall{left: len(workers), errs: map[int]*session.Error{}, done: make(chan struct{})}
	if p.left == 0 {
		close(p.done)
	}
	x.calls[id] = p
	x.mu.Unlock()
	defer func() {
		x.mu.Lock()
		delete(x.calls, id)
		x.mu.Unlock()
	}()
	if err := c.fabric.SendCommand(ctx, workers, command{Kind: cmdCall, Seq: x.seq, Call: id, Fn: fn, Args: payload}); err != nil {
		return nil, fmt.Errorf("Call(%q): %w", fn, err)
	}
	res, local := c.rank.Invoke(ctx, fn, args)
	select {
	case <-p.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("Call(%q): %w", fn, ctx.Err())
	}
	x.mu.Lock()
	reports := make([]doneReport, c.fabric.Size())
	reports[0].Err = local
	for r, e := range p.errs {
		reports[r].Err = e
	}
	x.mu.Unlock()
	if e := foldErrors(reports, nil); e != nil {
		if len(reports) > 1 && len(p.errs) == 0 {
			return nil, fmt.Errorf("Call(%q): rank 0: %s", fn, e.Value)
		}
		return nil, fmt.Errorf("Call(%q): %s", fn, e.Value)
	}
	return res, nil
}

// awaitServing waits until every worker serves Calls. A worker that ends
// the cell without serving never will: that is an error, not a wait.
func (x *execution) awaitServing(ctx context.Context, fn string) error {
	for {
		x.mu.Lock()
		var gone []int
		waiting := false
		for r := 1; r < len(x.serving); r++ {
			switch {
			case x.done[r]:
				gone = append(gone, r)
			case !x.serving[r]:
				waiting = true
			}
		}
		changed := x.changed
		x.mu.Unlock()
		if len(gone) > 0 {
			return fmt.Errorf("Call(%q): %s finished the cell without serving Calls: call mpi.EventLoop() on the ranks other than 0, or run the cell with %%%%rank0", fn, rankList(gone))
		}
		if !waiting {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("Call(%q): %w", fn, ctx.Err())
		}
	}
}

// quit is mpi.Quit on rank 0: release the ranks in EventLoop. Ranks that
// have not reached EventLoop yet find the release waiting there.
func (c *Coordinator) quit() error {
	c.mu.Lock()
	x := c.cur
	c.mu.Unlock()
	if x == nil || x.ctx == nil {
		return nil
	}
	return c.quitFor(x.ctx, x)
}

// quitFor sends the release to every rank of x still running the cell.
func (c *Coordinator) quitFor(ctx context.Context, x *execution) error {
	var to []int
	x.mu.Lock()
	for r := 1; r < len(x.runs); r++ {
		if x.runs[r] && !x.done[r] {
			to = append(to, r)
			x.serving[r] = false
		}
	}
	x.mu.Unlock()
	if err := c.fabric.SendCommand(ctx, to, command{Kind: cmdQuitLoop, Seq: x.seq}); err != nil {
		return fmt.Errorf("Quit: %w", err)
	}
	return nil
}
