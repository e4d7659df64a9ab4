package engine

import (
	"context"
	"fmt"
	"sync"

	"github.com/gompi-kernel/gompi-kernel/kernel"
	"github.com/gompi-kernel/gompi-kernel/kernel/session"
)

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
	out         kernel.Output
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
	// firstFailure is the error name of the first rank that failed, set
	// before failed is closed.
	firstFailure string
	serving      []bool         // the rank serves Calls now
	quitOwed     []bool         // mpi.Quit came before the rank entered EventLoop
	release      func(rank int) // sends rank the release from EventLoop
	changed      chan struct{}  // closed and replaced when serving or done changes
	calls        map[uint64]*pendingCall
	// tree: the done reports come up the fan-out tree (gather.go), apart
	// from the ranks' other events; heard counts those by rank, and a
	// report that overtook some of them waits in early.
	tree  bool
	heard []int
	early map[int]doneReport
}

// pendingCall collects the workers' answers to one Call.
type pendingCall struct {
	left int
	errs map[int]*session.Error
	done chan struct{}
}

func newExecution(c command, size int, mode outputMode, out kernel.Output, cancelLocal context.CancelFunc) *execution {
	x := &execution{
		seq:         c.Seq,
		out:         out,
		cancelLocal: cancelLocal,
		runs:        make([]bool, size),
		reports:     make([]doneReport, size),
		done:        make([]bool, size),
		left:        size,
		allDone:     make(chan struct{}),
		membersDone: make(chan struct{}),
		failed:      make(chan struct{}),
		serving:     make([]bool, size),
		quitOwed:    make([]bool, size),
		release:     func(int) {},
		changed:     make(chan struct{}),
		calls:       map[uint64]*pendingCall{},
		heard:       make([]int, size),
		early:       map[int]doneReport{},
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
	x.labels = newLabeller(out, x.runs, mode)
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
	// An event is counted once handled (its text with the labeller): the
	// count can finish the rank, and the last finish ends the cell.
	if ev.Seq == x.seq && ev.Kind != evDone && ev.Kind != evGathered {
		defer x.hear(ev.Rank)
	}
	switch ev.Kind {
	case evStream:
		x.labels.write(ev.Rank, ev.Name, ev.Text)
	case evDisplay:
		if ev.Display != nil {
			x.labels.forRank(ev.Rank).Display(*ev.Display)
		}
	case evClear:
		x.labels.forRank(ev.Rank).Clear(ev.Wait)
	case evDone:
		if ev.Result == nil {
			ev.Result = &doneReport{Err: &session.Error{Name: "KernelError", Value: "rank sent no result"}}
		}
		x.finish(ev.Rank, *ev.Result)
	case evGathered:
		for _, r := range ev.Gathered {
			x.finishHeard(r.Rank, r.Result)
		}
	case evServing:
		x.mu.Lock()
		owed := false
		if ev.Rank >= 0 && ev.Rank < len(x.serving) {
			if owed = x.quitOwed[ev.Rank]; owed {
				x.quitOwed[ev.Rank] = false
			} else {
				x.serving[ev.Rank] = true
				x.signal()
			}
		}
		x.mu.Unlock()
		if owed {
			x.release(ev.Rank)
		}
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

// hear counts an event of rank's for the cell, and finishes the rank if
// its done report came first and this was the last event it waited for.
func (x *execution) hear(rank int) {
	x.mu.Lock()
	if rank < 0 || rank >= len(x.heard) {
		x.mu.Unlock()
		return
	}
	x.heard[rank]++
	r, ok := x.early[rank]
	ready := ok && x.heard[rank] >= r.Events
	if ready {
		delete(x.early, rank)
	}
	x.mu.Unlock()
	if ready {
		x.finish(rank, r)
	}
}

// finishHeard finishes rank with a report that came up the tree once
// every event the rank sent before it has arrived.
func (x *execution) finishHeard(rank int, r doneReport) {
	x.mu.Lock()
	if rank < 0 || rank >= len(x.heard) {
		x.mu.Unlock()
		return
	}
	if x.heard[rank] < r.Events {
		x.early[rank] = r
		x.mu.Unlock()
		return
	}
	x.mu.Unlock()
	x.finish(rank, r)
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
		x.onFail.Do(func() {
			x.firstFailure = r.Err.Name
			close(x.failed)
		})
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

// endAfterDeath ends the cell at once when worker d.rank died: the dead
// rank fails with the runtime's reason, rank 0's own part is cancelled, and
// the ranks still running count as done, since they are about to be ended
// with the job (they may be waiting for the dead one in a collective).
func (x *execution) endAfterDeath(d death) {
	x.finish(d.rank, doneReport{Err: deathError(d)})
	x.cancelLocal()
	for _, r := range x.pending() {
		x.finish(r, doneReport{})
	}
}

// deathError is what the frontend is told when a rank died.
func deathError(d death) *session.Error {
	return &session.Error{
		Name:  "RankDied",
		Value: fmt.Sprintf("died: %s (the MPI job ends with it; restart the kernel)", d.reason),
	}
}
