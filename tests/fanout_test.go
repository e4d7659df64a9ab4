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
// every rank.
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
	out = res[6].stream("stdout")
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
