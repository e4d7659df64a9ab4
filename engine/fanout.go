package engine

import (
	"context"
	"log/slog"
	"os"
	"runtime"
)

// Fan-out of rank 0's commands. Direct sends (rank 0 → each worker) cost
// rank 0 one send and one ring per worker, so the time before the last
// worker starts grows with N. A tree in which every worker first forwards
// the command to its children keeps that depth at log_k N, but needs the
// inner ranks to run promptly: MPI_Ibcast, measured first, made a trivial
// cell take 24 ms at 16 ranks on 2 cores, where the inner ranks were often
// descheduled. So the tree is used only where each rank has a core.
const (
	treeMin   = 16 // fewer ranks: direct sends, whatever the node
	treeArity = 4  // children per rank: depth log_4 N (3 at 64 ranks, 4 at 256)
	// fanoutEnv overrides the choice: "direct", or "tree".
	fanoutEnv = "GOMPI_FANOUT"
)

// chooseFanout returns the arity of the fan-out tree, or 0 for direct
// sends, for a job of size ranks of which local run on this node. Rank 0
// decides; the arity travels in each command (command.Fan),
// so the workers follow without deciding themselves.
func chooseFanout(size, local int, log *slog.Logger) int {
	switch os.Getenv(fanoutEnv) {
	case "direct":
		return 0
	case "tree":
		return treeArity
	}
	if size < treeMin || local > runtime.NumCPU() {
		return 0
	}
	log.Debug("commands fan out as a tree", "arity", treeArity, "ranks", size, "ranks_on_node", local, "cores", runtime.NumCPU())
	return treeArity
}

// children are rank's children in the k-ary tree over ranks 0..size-1
// rooted at rank 0 (heap order: k·r+1 … k·r+k).
func children(rank, size, k int) []int {
	var c []int
	for i := k*rank + 1; i <= k*rank+k && i < size; i++ {
		c = append(c, i)
	}
	return c
}

// treeable reports whether c may travel through the tree. Only commands
// that no other command from rank 0 can overtake: a cell all ranks run
// (rank 0's later Calls and releases go directly, but only to a rank that
// has said it serves, so after it got the cell), renewing the cells'
// communicator (collective: rank 0 waits in it for every rank) and quit.
// A %%ranks cell's servers get Calls and the end of the cell directly at
// once, so that cell goes directly too, as does %reset, after which the
// next cell might be sent directly.
func treeable(c command) bool {
	switch c.Kind {
	case cmdExecute:
		return len(c.Ranks) == 0
	case cmdRenew, cmdQuit:
		return true
	}
	return false
}

// Broadcast sends a command from rank 0 to every worker: through the tree
// when the fabric fans out (chooseFanout) and c allows it (treeable), else
// one eager point-to-point message to each worker and a ring of its bell.
// With direct sends each worker needs only itself to run; posting N-1
// small sends costs rank 0 microseconds each.
func (f *Fabric) Broadcast(ctx context.Context, c command) error {
	if f.fan > 0 && treeable(c) {
		c.Fan = f.fan
		return f.SendCommand(ctx, children(0, f.size, f.fan), c)
	}
	return f.SendCommand(ctx, f.workers(), c)
}

// forward passes a command that came through the tree on to this rank's
// children, before the rank acts on it. Workers only.
func (f *Fabric) forward(ctx context.Context, c command) error {
	if c.Fan <= 0 {
		return nil
	}
	return f.SendCommand(ctx, children(f.rank, f.size, c.Fan), c)
}
