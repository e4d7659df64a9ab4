package engine

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gompi-kernel/gompi-kernel/kernel"
	"github.com/gompi-kernel/gompi-kernel/kernel/session"
	"github.com/gompi-kernel/gompi-kernel/mpi"
)

// stuckGrace is how long the coordinator lets the other ranks go on after one
// rank failed before it interrupts them: ranks still running then are almost
// always waiting in a collective for the rank that failed.
const stuckGrace = time.Second

// compileGrace replaces stuckGrace after a compile error, which every rank
// meets alike, however long it takes a loaded rank to get there.
const compileGrace = 15 * time.Second

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

	mu     sync.Mutex
	seq    uint64
	cur    *execution // the running cell, nil when idle
	last   *execution // the latest cell, for output of goroutines that outlive it
	output outputMode // %output: how the ranks' lines are shown

	stopReceiver context.CancelFunc
	receiverDone chan struct{}
	lifeline     *lifeline // workers' deaths and their reasons; nil if none
	dead         *death    // the first worker that died: the job is ending
	builds       *builds   // the plugin builder (engine/compiled.go)
}

// NewCoordinator starts rank 0's receiver of worker events and the watch
// on the workers' lifelines (nil: none).
func NewCoordinator(f *Fabric, r *Rank, l *lifeline, log *slog.Logger) *Coordinator {
	ctx, cancel := context.WithCancel(context.Background())
	c := &Coordinator{fabric: f, rank: r, log: log, stopReceiver: cancel, receiverDone: make(chan struct{}), lifeline: l,
		builds: newBuilds(r.shims, log)}
	r.driver.setCaller(c)
	go c.receive(ctx)
	if l != nil {
		go c.watchDeaths(ctx)
	}
	return c
}

// PlainThread runs f on a thread with the process's normal timer slack,
// which the C threads f starts inherit (libzmq's, at the first socket of
// a context): only sysmon is to have a long one (internal/sysmon).
func (c *Coordinator) PlainThread(f func() error) error {
	return c.rank.slack.Plain(f)
}

// deathGrace is how long rank 0 lets the launcher end the job after a worker
// died before it ends the job itself: OpenMPI's mpirun does so at once
// (SIGTERM), while MPICH's Hydra, started with -disable-auto-cleanup, leaves
// it to the kernel. The frontend has long had its one error by then.
const deathGrace = 2 * time.Second

// watchDeaths ends the running cell when a worker dies: the others may
// wait for it forever, and the job is about to end. The frontend then gets
// ONE error naming the rank and the runtime's reason, while the kernel can
// still send it. Hydra's own clean-up would SIGKILL every rank the moment
// one died, before rank 0 could say anything; so the launcher flags turn it
// off (mpiimpl.LauncherFlags) and rank 0 ends the job after deathGrace:
// the workers first (lifeline.endJob), then itself.
func (c *Coordinator) watchDeaths(ctx context.Context) {
	select {
	case d := <-c.lifeline.deaths:
		c.log.Error("a rank died", "rank", d.rank, "reason", d.reason)
		c.mu.Lock()
		c.dead = &d
		x := c.cur
		c.mu.Unlock()
		if x != nil {
			x.endAfterDeath(d)
		}
		select {
		case <-time.After(deathGrace):
			c.log.Error("ending the MPI job: a rank died", "rank", d.rank)
			if c.lifeline.endJob(time.Second) {
				// Every worker has left: leaving too ends the job, and
				// the launcher exits only after it has seen all ranks go.
				// On MPI_Abort, Hydra's mpiexec exits before its proxies'
				// SIGKILLs have ended the ranks, which outlive it briefly.
				os.Exit(1)
			}
			mpi.Abort(1)
		case <-ctx.Done():
		}
	case <-ctx.Done():
	}
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
func (c *Coordinator) Execute(ctx context.Context, code string, out kernel.Output) kernel.Outcome {
	cell, err := parseCell(code, c.fabric.Size())
	if err != nil {
		return kernel.Outcome{Err: &session.Error{Name: "UsageError", Value: err.Error()}}
	}
	if cell.action != "" {
		return c.magic(ctx, cell, out)
	}
	if cell.compile {
		start := time.Now()
		res := c.compileCell(ctx, cell.code, out)
		if cell.time {
			// The build runs on rank 0 only; the load on every rank.
			out.Stream("stdout", fmt.Sprintf("Build and load: %v on rank 0; load: %s", round(time.Since(start).Seconds()), wallTimes(res.Seconds)), nil)
		}
		return res
	}
	if res := c.buildImports(ctx, cell.code, out); res.Err != nil {
		return res
	}
	res := c.ExecuteOn(ctx, cell.code, cell.ranks, out)
	if cell.time {
		out.Stream("stdout", wallTimes(res.Seconds), nil)
	}
	return res
}

// ExecuteOn runs code on ranks (nil: all); the other ranks serve rank 0's
// Calls until it ends.
func (c *Coordinator) ExecuteOn(ctx context.Context, code string, ranks []int, out kernel.Output) kernel.Outcome {
	cmd := command{Kind: cmdExecute, Code: code, Ranks: ranks, Label: kernel.CellLabel(ctx)}
	return c.runCommand(ctx, cmd, out,
		func(ctx context.Context, out kernel.Output) doneReport {
			return c.rank.Execute(ctx, code, cmd.Label, out)
		})
}

// runCommand sends cmd to every worker, runs local as rank 0's part (when
// rank 0 is among cmd's ranks) and waits for every rank's done report: a
// cell (cmdExecute) or a plugin to load (cmdLoad) travel the same way.
func (c *Coordinator) runCommand(ctx context.Context, cmd command, out kernel.Output, local func(context.Context, kernel.Output) doneReport) kernel.Outcome {
	c.execMu.Lock()
	defer c.execMu.Unlock()

	localCtx, cancelLocal := context.WithCancel(ctx)
	defer cancelLocal()
	c.mu.Lock()
	c.seq++
	cmd.Seq = c.seq
	x := newExecution(cmd, c.fabric.Size(), c.output, out, cancelLocal)
	x.ctx = localCtx
	x.release = c.releaser(localCtx, cmd.Seq)
	x.tree = c.fabric.fan > 0 && treeable(cmd)
	c.cur, c.last = x, x
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.cur = nil
		c.mu.Unlock()
	}()

	if d := c.deadRank(); d != nil {
		return kernel.Outcome{Err: deathError(*d)}
	}
	c.fabric.SetBusy(true)
	defer c.fabric.SetBusy(false)
	if err := c.fabric.Broadcast(ctx, cmd); err != nil {
		return kernel.Outcome{Err: &session.Error{Name: "KernelError", Value: fmt.Sprintf("cannot reach the workers: %v", err)}}
	}
	if cmd.runs(0) {
		c.rank.thread.run(func() {
			report := local(localCtx, x.labels.forRank(0))
			// Rank 0 is done calling: release any rank still in (or yet to
			// enter) EventLoop, as pyMOR's script mode quits at the end.
			if err := c.quitFor(context.Background(), x); err != nil {
				c.log.Error("releasing ranks in EventLoop", "err", err)
			}
			x.finish(0, report)
		})
	} else {
		c.rank.setOutput(x.labels.forRank(0))
		x.finish(0, doneReport{})
	}

	interrupted := c.await(ctx, x)
	x.labels.flush()
	reports := x.reportsCopy()
	if anyDirty(reports) && c.deadRank() == nil {
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
	return kernel.Outcome{Data: reports[0].Data, Err: foldErrors(reports, interrupted, cmd.Label), Seconds: seconds}
}

// releaser returns what releases a rank from mpi.EventLoop in cell seq
// (execution.release).
func (c *Coordinator) releaser(ctx context.Context, seq uint64) func(rank int) {
	return func(r int) {
		if err := c.fabric.SendCommand(ctx, []int{r}, command{Kind: cmdQuitLoop, Seq: seq}); err != nil {
			c.log.Error("releasing a rank from EventLoop", "rank", r, "err", err)
		}
	}
}

// Rank 0 nudges the workers whose done report it still awaits at these
// times after a cell started, growing fourfold up to nudgeMax
// (Fabric.Nudge).
const (
	nudgeFirst = 32 * time.Millisecond
	nudgeMax   = time.Second
)

// await waits until every rank has reported. Once a rank has failed, the
// others get stuckGrace to finish; those still running are then interrupted
// and listed in the error. Meanwhile it nudges the ranks it waits for.
func (c *Coordinator) await(ctx context.Context, x *execution) (interrupted []int) {
	var grace <-chan time.Time
	failed := x.failed
	members := x.membersDone
	every := nudgeFirst
	nudge := time.NewTimer(every)
	defer nudge.Stop()
	for {
		select {
		case <-x.allDone:
			return interrupted
		case <-nudge.C:
			c.fabric.Nudge(x.pending())
			every = min(4*every, nudgeMax)
			nudge.Reset(every)
		case <-members:
			// The cell has ended where it ran; the ranks that only served
			// it report done once told.
			members = nil
			if err := c.fabric.SendCommand(ctx, x.servers(), command{Kind: cmdEndCell, Seq: x.seq}); err != nil {
				c.log.Error("ending a driver cell", "err", err)
			}
		case <-failed:
			failed = nil
			if x.tree {
				// Ranks that finished hold their reports until their
				// subtree has reported: have them pass them up, so that
				// only the ranks still running are named as stuck.
				if err := c.fabric.Flush(ctx, x.seq, x.pending()); err != nil {
					c.log.Error("asking for held done reports", "err", err)
				}
			}
			wait := stuckGrace
			if x.firstFailure == session.ErrCompile {
				// Every rank compiles the same cell against the same
				// state: the others are not stuck but slower (a loaded
				// node), and will report the same error.
				wait = compileGrace
			}
			t := time.NewTimer(wait)
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
	c.builds.interrupt() // a build for a %%compile cell or an import
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

// IsComplete needs no interpreter state. A cell magic's cell (%%compile,
// %%rank0) takes lines until an empty one, as in IPython's console: its
// Go may be complete after every declaration.
func (c *Coordinator) IsComplete(code string) (string, string) {
	trimmed := strings.TrimLeft(code, " \t\r\n")
	if !strings.HasPrefix(trimmed, "%%") {
		return session.IsComplete(code)
	}
	_, body, _ := strings.Cut(trimmed, "\n")
	if status, indent := session.IsComplete(body); status != "complete" {
		return status, indent
	}
	lines := strings.Split(code, "\n")
	if len(lines) > 1 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		return "complete", ""
	}
	return "incomplete", ""
}

// Size is the number of ranks.
func (c *Coordinator) Size() int { return c.fabric.Size() }

// Banner names the language and the number of ranks.
func (c *Coordinator) Banner() string {
	return fmt.Sprintf("gompi-kernel %s: Go (yaegi) on %d MPI rank(s). Every cell runs on every rank; output is labelled [rank].",
		kernel.Version(), c.fabric.Size())
}

// Shutdown ends the workers' event loops and rank 0's receiver.
func (c *Coordinator) Shutdown(ctx context.Context) error {
	c.Interrupt()
	c.execMu.Lock()
	defer c.execMu.Unlock()
	c.lifeline.expectEnd()
	if d := c.deadRank(); d != nil {
		// The job is ending; a send to the dead rank could wait forever.
		c.stopReceiver()
		<-c.receiverDone
		return nil
	}
	err := c.fabric.Broadcast(ctx, command{Kind: cmdQuit})
	c.stopReceiver()
	<-c.receiverDone
	if err != nil {
		return fmt.Errorf("tell workers to quit: %w", err)
	}
	return nil
}

// deadRank is the worker that died, nil while all live.
func (c *Coordinator) deadRank() *death {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dead
}
