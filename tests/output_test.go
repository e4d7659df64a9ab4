package tests

import (
	"strings"
	"testing"
	"time"
)

// TestCollapsedOutput: a line every rank prints alike is shown once with
// the ranks' range (the default), lines that differ keep their own labels,
// and %output ranks brings back one labelled line per rank.
func TestCollapsedOutput(t *testing.T) {
	k := startKernel(t, 4)
	res := drive(t, k.connFile,
		exec1(`mpi.Barrier()
fmt.Println("converged")
fmt.Println("residual", mpi.Rank())`),
		exec1("%output"),
		exec1("%output ranks"),
		exec1(`fmt.Println("converged")`),
		exec1("%output sideways"),
		exec1("%help"),
		action{"do": "shutdown"},
	)
	out := res[0].stream("stdout")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	converged := 0
	for _, l := range lines {
		if strings.HasSuffix(l, "] converged") {
			converged++
		}
	}
	for r := 0; r < 4; r++ {
		if !printedBy(out, r, "converged") || !printedBy(out, r, "residual "+string(rune('0'+r))) {
			t.Errorf("rank %d's lines missing:\n%s", r, out)
		}
	}
	// Which ranks share a line depends on how closely they printed; that
	// four ranks just out of a Barrier all printed 100 ms apart cannot be.
	if converged >= 4 || len(lines) != 4+converged {
		t.Errorf("alike lines not collapsed (%d lines say converged):\n%s", converged, out)
	}
	if got := res[1].stream("stdout"); got != "output: collapsed\n" {
		t.Errorf("%%output = %q, want the default, collapsed", got)
	}
	if got := res[3].stream("stdout"); strings.Count(got, "\n") != 4 {
		t.Errorf("%%output ranks: want one line per rank, got %q", got)
	}
	for r := 0; r < 4; r++ {
		if !strings.Contains(res[3].stream("stdout"), "["+string(rune('0'+r))+"] converged\n") {
			t.Errorf("%%output ranks: rank %d's own line missing:\n%s", r, res[3].stream("stdout"))
		}
	}
	if ev, _ := res[4].Reply["evalue"].(string); !strings.Contains(ev, "usage: %output collapsed|ranks") {
		t.Errorf("%%output sideways: %v", res[4].Reply)
	}
	if !strings.Contains(res[5].stream("stdout"), "%output collapsed") {
		t.Errorf("%%help does not name %%output:\n%s", res[5].stream("stdout"))
	}
	if err := k.wait(30 * time.Second); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}
