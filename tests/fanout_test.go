package tests

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestFanoutTree forces the command fan-out tree (chosen by itself only
// where every rank has a core) on 17 ranks, so that the tree has two
// levels below rank 0 and a partial one: cells reach every rank, a
// %%rank0 driver cell's Calls (sent directly) meet ranks that got their
// cells through the tree, an interrupt inside a collective is followed by
// a renewal through the tree, %reset goes directly, and shutdown ends
// every rank. The done reports come up the same tree (engine/gather.go):
// no rank's output is lost behind its report, and a failure deep in the
// tree ends the cell naming only the ranks still running, not those whose
// finished reports an inner rank held.
func TestFanoutTree(t *testing.T) {
	t.Setenv("GOMPI_FANOUT", "tree")
	k := startKernel(t, 17)
	res := drive(t, k.connFile,
		exec1(`fmt.Println("rank", mpi.Rank())
func Sq(x int) int { return x * x }`),
		exec1(allreduceCell),
		exec1("%%rank0\nr, err := mpi.Call(\"Sq\", 3)\nfmt.Println(\"call\", r, err)"),
		action{"do": "execute", "code": `if mpi.Rank() == 13 { time.Sleep(time.Hour) } else { mpi.Barrier() }`, "interrupt_after": 1.0},
		exec1(allreduceCell),
		// 5: every rank's last line arrives before the reply.
		exec1(`for i := 0; i < 100; i++ { fmt.Println("rank", mpi.Rank(), "line", i) }`),
		// 6: rank 13 (child of 3) fails at once; rank 10 (child of 2)
		// sleeps, so rank 2 holds the reports of 2, 9, 11 and 12.
		exec1(`if mpi.Rank() == 13 { panic("bad block") }
if mpi.Rank() == 10 { time.Sleep(time.Minute) }`),
		exec1(allreduceCell),
		exec1("%reset"),
		exec1(`fmt.Println("fresh", mpi.Rank())`),
		action{"do": "shutdown"},
	)
	out := res[0].stream("stdout")
	for r := 0; r < 17; r++ {
		if !printedBy(out, r, fmt.Sprintf("rank %d", r)) {
			t.Errorf("rank %d did not run the cell:\n%s", r, out)
		}
	}
	for _, i := range []int{1, 4} {
		if got := textResult(res[i]); got != "136" {
			t.Errorf("cell %d: Allreduce over 17 ranks = %q, want 136 (reply %v)", i, got, res[i].Reply)
		}
	}
	if got := res[2].stream("stdout"); got != "[0] call 9 <nil>\n" {
		t.Errorf("%%%%rank0 Call: %q (reply %v)", got, res[2].Reply)
	}
	if res[3].Reply["ename"] != "Interrupted" {
		t.Errorf("interrupt in Barrier: %v", res[3].Reply)
	}
	out = res[5].stream("stdout")
	for r := 0; r < 17; r++ {
		if !printedBy(out, r, fmt.Sprintf("rank %d line 99", r)) {
			t.Errorf("rank %d's last line is missing from the cell's output:\n%s", r, lastLines(out, 20))
		}
	}
	if errs := res[6].of("error"); len(errs) != 1 {
		t.Errorf("failure deep in the tree: %d error messages, want 1: %+v", len(errs), res[6].Msgs)
	} else {
		ev := errs[0].Content["evalue"].(string)
		if !strings.Contains(ev, "rank 13") || !strings.Contains(ev, "bad block") || !strings.Contains(ev, "rank 10 still running") {
			t.Errorf("failure deep in the tree folded as %q; want rank 13's panic and rank 10 (only) named as stuck", ev)
		}
		for _, r := range []string{"ranks 2", "ranks 9", "2,", "9,", "11", "12"} {
			if strings.Contains(ev, r) {
				t.Errorf("failure deep in the tree folded as %q: names ranks that had finished (%q)", ev, r)
			}
		}
	}
	if got := textResult(res[7]); got != "136" {
		t.Errorf("Allreduce after the failure = %q, want 136 (reply %v)", got, res[7].Reply)
	}
	out = res[9].stream("stdout")
	for r := 0; r < 17; r++ {
		if !printedBy(out, r, fmt.Sprintf("fresh %d", r)) {
			t.Errorf("after %%reset, rank %d did not run the cell:\n%s", r, out)
		}
	}
	if err := k.wait(30 * time.Second); err != nil {
		t.Errorf("shutdown: %v\n%s", err, k.stderr)
	}
	if s := k.stderr.String(); strings.Contains(s, "stale command") || strings.Contains(s, "dropped") {
		t.Errorf("a command overtook another:\n%s", k.stderr)
	}
}
