package engine

import (
	"testing"

	"github.com/gompi-kernel/gompi-kernel/kernel/session"
)

// The subtree sizes of the 4-ary tree over 17 ranks: rank 0 holds all,
// rank 1 itself and 5-8, rank 4 (no children below 17) only itself.
func TestSubtreeSize(t *testing.T) {
	for rank, want := range map[int]int{0: 17, 1: 5, 3: 5, 4: 1, 13: 1} {
		if got := subtreeSize(rank, 17, 4); got != want {
			t.Errorf("subtreeSize(%d, 17, 4) = %d, want %d", rank, got, want)
		}
	}
	if got := subtreeSize(1, 64, 4); got != 21 {
		t.Errorf("subtreeSize(1, 64, 4) = %d, want 21 (1, 5-8, 21-36)", got)
	}
}

// A report that came up the tree ahead of its rank's output finishes the
// rank only once that output has arrived, so the output precedes the
// cell's reply.
func TestGatheredReportWaitsForOutput(t *testing.T) {
	var x *execution
	rec := &endWatch{t: t, done: func() <-chan struct{} { return x.allDone }}
	x = newExecution(command{Kind: cmdExecute, Seq: 7}, 3, outputRanks, rec, func() {})
	x.tree = true
	x.finish(0, doneReport{})
	x.handle(event{Kind: evGathered, Seq: 7, Rank: 1, Gathered: []rankReport{
		{Rank: 1, Result: doneReport{Events: 0}},
		{Rank: 2, Result: doneReport{Events: 2}},
	}})
	if got := x.pending(); len(got) != 1 || got[0] != 2 {
		t.Fatalf("pending after the gathered reports = %v, want [2] (rank 2 sent 2 events not yet heard)", got)
	}
	x.handle(event{Kind: evStream, Seq: 6, Rank: 2, Name: "stdout", Text: "late from the cell before\n"})
	x.handle(event{Kind: evStream, Seq: 7, Rank: 2, Name: "stdout", Text: "one\n"})
	if got := x.pending(); len(got) != 1 {
		t.Fatalf("pending after 1 of 2 events = %v, want [2]", got)
	}
	x.handle(event{Kind: evStream, Seq: 7, Rank: 2, Name: "stdout", Text: "two\n"})
	select {
	case <-x.allDone:
	default:
		t.Fatalf("rank 2 not finished after its 2 events; pending %v", x.pending())
	}
}

// endWatch is an Output that fails the test if text reaches it after the
// cell has ended: the reply would then precede it.
type endWatch struct {
	recorder
	t    *testing.T
	done func() <-chan struct{}
}

func (w *endWatch) Stream(name, text string, md map[string]any) {
	select {
	case <-w.done():
		w.t.Errorf("%q reached the frontend after the cell ended", text)
	default:
	}
	w.recorder.Stream(name, text, md)
}

// Failures and abandoned MPI operations go up the tree at once.
func TestFailingReports(t *testing.T) {
	ok := rankReport{Rank: 5}
	bad := rankReport{Rank: 6, Result: doneReport{Err: &session.Error{Name: "Panic", Value: "x"}}}
	dirty := rankReport{Rank: 7, Result: doneReport{Dirty: true}}
	if ok.failing() || !bad.failing() || !dirty.failing() {
		t.Errorf("failing: ok %v, panic %v, dirty %v; want false, true, true", ok.failing(), bad.failing(), dirty.failing())
	}
}
