package engine

import (
	"context"
	"fmt"
)

// Collection of done reports up the fan-out tree. Where commands fan out
// as a tree (chooseFanout), a worker sends its done report not to rank 0
// but to its parent, and an inner rank passes its subtree's reports up in
// one message once the whole subtree has reported: rank 0 then receives
// at most treeArity messages per cell instead of one per worker, and the
// depth of the collection grows with log_k N like the fan-out's.
//
// Holding reports must not hide what rank 0 needs at once:
//   - a failure (an error or an abandoned MPI operation) is passed up at
//     once, with whatever its ranks held, and from then on every report of
//     the cell goes up as it comes (flushing): rank 0 starts the stuck-rank
//     grace when the first rank fails, not when the last one finishes;
//   - an interrupt, or rank 0's request to flush (sent to the ranks it
//     still waits for after a failure), makes a rank flush too, so that
//     the ranks rank 0 then names as stuck are the ones really running.
//
// Output still goes straight to rank 0. A gathered report could overtake
// a rank's last output, which travels another way, so each report says
// how many events its rank sent for the cell (doneReport.Events) and rank
// 0 finishes the rank only once it has received them all.

// rankReport is one rank's done report on its way up the tree.
type rankReport struct {
	Rank   int        `json:"rank"`
	Result doneReport `json:"result"`
}

// failing reports whether rank 0 needs this report at once.
func (r rankReport) failing() bool { return r.Result.Err != nil || r.Result.Dirty }

// gather is a worker's part of the collection for one cell.
type gather struct {
	f        *Fabric
	seq      uint64
	parent   int
	children []int
	expect   int // reports to pass up: this rank's subtree, itself included
	held     []rankReport
	passed   int // reports passed up so far
	flushing bool
}

// newGather returns the collection for cell c on this rank, or nil where
// the done report goes straight to rank 0 (c did not come through the
// tree).
func newGather(f *Fabric, c command) *gather {
	if c.Fan <= 0 || f.rank == 0 {
		return nil
	}
	return &gather{
		f:        f,
		seq:      c.Seq,
		parent:   (f.rank - 1) / c.Fan,
		children: children(f.rank, f.size, c.Fan),
		expect:   subtreeSize(f.rank, f.size, c.Fan),
	}
}

// subtreeSize counts rank and its descendants in the k-ary tree.
func subtreeSize(rank, size, k int) int {
	n := 1
	for _, c := range children(rank, size, k) {
		n += subtreeSize(c, size, k)
	}
	return n
}

// complete reports whether every report of the subtree has been passed up.
func (g *gather) complete() bool { return g.passed == g.expect }

// add takes reports (this rank's own, or a child's batch) and passes up
// what must go now.
func (g *gather) add(ctx context.Context, reports []rankReport) error {
	g.held = append(g.held, reports...)
	for _, r := range reports {
		if r.failing() {
			g.flushing = true
		}
	}
	if g.flushing || g.passed+len(g.held) == g.expect {
		return g.pass(ctx)
	}
	return nil
}

// flush passes up what is held and everything that comes later.
func (g *gather) flush(ctx context.Context) error {
	g.flushing = true
	return g.pass(ctx)
}

// pass sends the held reports to the parent: to rank 0 as an event (its
// receiver takes every worker's events), to an inner rank on tagGather.
func (g *gather) pass(ctx context.Context) error {
	if len(g.held) == 0 {
		return nil
	}
	e := event{Kind: evGathered, Seq: g.seq, Rank: g.f.rank, Gathered: g.held}
	var err error
	if g.parent == 0 {
		err = g.f.Send(ctx, e)
	} else {
		err = g.f.sendGathered(ctx, g.parent, e)
	}
	if err != nil {
		return fmt.Errorf("pass %d done reports to rank %d: %w", len(g.held), g.parent, err)
	}
	g.passed += len(g.held)
	g.held = nil
	return nil
}

// poll takes the batches the children have sent.
func (g *gather) poll(ctx context.Context) error {
	if len(g.children) == 0 {
		return nil
	}
	for {
		e, ok, err := g.f.tryGathered()
		if err != nil || !ok {
			return err
		}
		if e.Seq != g.seq {
			g.f.log.Warn("done reports of another cell dropped", "from", e.Rank, "seq", e.Seq, "cell", g.seq)
			continue
		}
		if err := g.add(ctx, e.Gathered); err != nil {
			return err
		}
	}
}
