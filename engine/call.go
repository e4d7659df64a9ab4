package engine

import (
	"context"
	"fmt"

	"github.com/gompi-kernel/gompi-kernel/kernel/session"
	"github.com/gompi-kernel/gompi-kernel/registry"
)

// The Call protocol (pyMOR's driver style): rank 0's mpi.Call sends the
// function's name and arguments to every worker that serves, runs it itself,
// and waits for each worker's evCallDone; mpi.Quit releases the workers in
// EventLoop. A worker serves while its cell is in mpi.EventLoop, or for the
// whole cell when the cell does not run there (%%rank0).

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
	if e := foldErrors(reports, nil, ""); e != nil {
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

// quitFor releases every rank of x still running the cell from EventLoop:
// those that serve now at once, the others once they enter EventLoop
// (execution.handle). Sending the release to every rank after every cell
// cost each worker a second message and ring per trivial cell.
func (c *Coordinator) quitFor(ctx context.Context, x *execution) error {
	var to []int
	x.mu.Lock()
	for r := 1; r < len(x.runs); r++ {
		switch {
		case !x.runs[r] || x.done[r]:
		case x.serving[r]:
			to = append(to, r)
			x.serving[r] = false
		default:
			x.quitOwed[r] = true
		}
	}
	x.mu.Unlock()
	if err := c.fabric.SendCommand(ctx, to, command{Kind: cmdQuitLoop, Seq: x.seq}); err != nil {
		return fmt.Errorf("Quit: %w", err)
	}
	return nil
}
