package tests

import (
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// executeNotebook runs notebooks/name with nbconvert --execute at 4 ranks
// through a freshly installed kernelspec and returns the executed cells. A
// cell that fails makes nbconvert fail, and so the test.
func executeNotebook(t *testing.T, name string) []nbCell {
	t.Helper()
	installSpec(t, "gompi", 4)
	outDir := t.TempDir()
	start := time.Now()
	cmd := exec.Command("jupyter", "nbconvert", "--to", "notebook", "--execute",
		"--ExecutePreprocessor.kernel_name=gompi", "--ExecutePreprocessor.timeout=120",
		"--output-dir", outDir, filepath.Join(repoDir, "notebooks", name))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nbconvert --execute %s: %v\n%s", name, err, out)
	}
	t.Logf("%s executed at 4 ranks in %v", name, time.Since(start).Round(time.Millisecond))
	cells := readNotebook(t, filepath.Join(outDir, name))
	for i, c := range cells {
		for _, o := range c.Outputs {
			if o.OutputType == "error" {
				t.Errorf("%s cell %d has an error output: %+v", name, i, o)
			}
		}
	}
	return cells
}

// codeCell returns cells[i], failing the test at once if it is not a code
// cell (the notebook's layout changed and the test must follow).
func codeCell(t *testing.T, cells []nbCell, i int) nbCell {
	t.Helper()
	if i >= len(cells) || cells[i].CellType != "code" {
		t.Fatalf("cell %d is not a code cell; has the notebook changed?", i)
	}
	return cells[i]
}

// wantLines checks that out holds every line of want (each a whole line).
func wantLines(t *testing.T, what, out string, want ...string) {
	t.Helper()
	lines := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		lines[l] = true
	}
	for _, w := range want {
		if !lines[w] {
			t.Errorf("%s lacks the line %q:\n%s", what, w, out)
		}
	}
}

// rankLines returns the lines of out that rank printed, each as "[rank]
// text": a collapsed line "[0,3] text" (alike on ranks 0 and 3) counts for
// both.
func rankLines(out string, rank int) []string {
	var got []string
	for _, l := range strings.Split(out, "\n") {
		if m := labelRe.FindStringSubmatch(l); m != nil && labelRanks(m[1])[rank] {
			got = append(got, fmt.Sprintf("[%d] %s", rank, m[2]))
		}
	}
	return got
}

// wantWallTimes checks a %time report that names all 4 ranks.
func wantWallTimes(t *testing.T, what, out string) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^Wall time: \[0\] \S+ \[1\] \S+ \[2\] \S+ \[3\] \S+; slowest: rank [0-3] \(\S+\)$`)
	if !re.MatchString(out) {
		t.Errorf("%s has no %%time report for 4 ranks:\n%s", what, out)
	}
}

// displays returns the display_data outputs of the notebook holding mime.
func displays(cells []nbCell, mime string) []string {
	var got []string
	for _, c := range cells {
		for _, o := range c.Outputs {
			if o.OutputType == "display_data" {
				if _, ok := o.Data[mime]; ok {
					got = append(got, joinText(o.Data[mime]))
				}
			}
		}
	}
	return got
}

// TestTour executes notebooks/tour.ipynb: labelled SPMD output from every
// rank, rank 0's cell result, Allreduce, Bcast of a struct declared in a
// cell, Gather, a Send/Recv ring, a %%rank0 driver cell calling a cell's
// function on every rank, %time and display.Markdown.
func TestTour(t *testing.T) {
	cells := executeNotebook(t, "tour.ipynb")

	var hello, values []string
	for r := 0; r < 4; r++ {
		hello = append(hello, fmt.Sprintf("[%d] hello from rank %d of 4", r, r))
		values = append(values, fmt.Sprintf("[%d] my value is %d", r, 100*(r+1)))
	}
	wantLines(t, "hello cell", codeCell(t, cells, 2).text("stdout"), hello...)
	wantLines(t, "value cell", codeCell(t, cells, 4).text("stdout"), values...)
	if got := cells[4].result(); got != "100" {
		t.Errorf("value cell result %q, want rank 0's 100", got)
	}
	// Alike on every rank: collapsed, "[0-3] sum …" (or split where a
	// rank printed late), but printed by each rank.
	for r := 0; r < 4; r++ {
		if out := codeCell(t, cells, 6).text("stdout"); !printedBy(out, r, "sum of 1..4 = 10, highest rank = 3") {
			t.Errorf("Allreduce cell lacks rank %d's sum:\n%s", r, out)
		}
		if out := codeCell(t, cells, 8).text("stdout"); !printedBy(out, r, "params = {Name:tour Steps:42 Tol:1e-06}") {
			t.Errorf("Bcast cell lacks rank %d's params:\n%s", r, out)
		}
	}

	gather := codeCell(t, cells, 10).text("stdout")
	wantLines(t, "Gather cell", gather, "[0] rank 0 gathered (rank, rank²) pairs: [0 0 1 1 2 4 3 9]")
	if strings.Count(gather, "\n") != 1 {
		t.Errorf("Gather cell: only rank 0 should print:\n%s", gather)
	}
	if got := cells[10].result(); got != "8" {
		t.Errorf("Gather cell result %q, want 8", got)
	}

	wantLines(t, "ring cell", codeCell(t, cells, 12).text("stdout"),
		"[1] got [0 1] from rank 0, passing it to rank 2",
		"[2] got [0 1 2] from rank 1, passing it to rank 3",
		"[3] got [0 1 2 3] from rank 2, passing it to rank 0",
		"[0] the token is back, it visited [0 1 2 3]")

	if got := codeCell(t, cells, 14).Outputs; len(got) != 0 {
		t.Errorf("the cell defining SumOfSquares should show nothing: %+v", got)
	}
	driver := codeCell(t, cells, 16).text("stdout")
	if driver != "[0] SumOfSquares(1000) = 332833500 on 4 ranks (exact: 332833500)\n" {
		t.Errorf("%%%%rank0 cell:\n%s", driver)
	}

	timed := codeCell(t, cells, 18)
	wantWallTimes(t, "%time cell", timed.text("stdout"))
	if v, err := strconv.ParseFloat(timed.result(), 64); err != nil || math.Abs(v-math.Pi) > 1e-5 {
		t.Errorf("%%time cell result %q, want π to 1e-5 (%v)", timed.result(), err)
	}

	md := codeCell(t, cells, 20)
	var tables int
	for _, o := range md.Outputs {
		if s, ok := o.Data["text/markdown"]; ok && o.OutputType == "display_data" {
			tables++
			table := joinText(s)
			for r := 0; r < 4; r++ {
				if !strings.Contains(table, fmt.Sprintf("\n| %d | ", r)) {
					t.Errorf("Markdown table lacks rank %d:\n%s", r, table)
				}
			}
			if !strings.Contains(table, "| **all** | **1.6449") || !strings.Contains(table, "**3.14159") {
				t.Errorf("Markdown table lacks the total and π:\n%s", table)
			}
		}
	}
	if tables != 1 {
		t.Errorf("display.Markdown cell shows %d Markdown outputs, want 1: %+v", tables, md.Outputs)
	}
}

// TestMonteCarloPi executes notebooks/monte-carlo-pi.ipynb: every rank draws
// its own samples, Allreduce adds the hits, and the estimate is within 0.01
// of π.
func TestMonteCarloPi(t *testing.T) {
	cells := executeNotebook(t, "monte-carlo-pi.ipynb")

	draws := codeCell(t, cells, 4).text("stdout")
	hitsRe := regexp.MustCompile(`^\[\d\] (\d+) hits of 1000000 samples: π ≈ (\S+)$`)
	perRank := map[string]bool{}
	for r := 0; r < 4; r++ {
		lines := rankLines(draws, r)
		if len(lines) != 1 || !hitsRe.MatchString(lines[0]) {
			t.Errorf("rank %d should print one line of hits:\n%s", r, draws)
			continue
		}
		perRank[hitsRe.FindStringSubmatch(lines[0])[1]] = true
	}
	if len(perRank) != 4 {
		t.Errorf("the ranks should draw different samples (own seeds), got the hit counts %v", perRank)
	}
	wantWallTimes(t, "sampling cell", draws)

	sum := codeCell(t, cells, 6)
	m := regexp.MustCompile(`^\[0\] 4000000 samples on 4 ranks: π ≈ (\S+), \|π - estimate\| = \S+, standard error \S+\n$`).
		FindStringSubmatch(sum.text("stdout"))
	if m == nil {
		t.Fatalf("Allreduce cell should print rank 0's estimate of 4000000 samples:\n%s", sum.text("stdout"))
	}
	estimate, err := strconv.ParseFloat(m[1], 64)
	if err != nil || math.Abs(estimate-math.Pi) >= 0.01 {
		t.Errorf("estimate %q: want |π - estimate| < 0.01 (%v)", m[1], err)
	}
	if v, err := strconv.ParseFloat(sum.result(), 64); err != nil || math.Abs(v-estimate) > 1e-6 {
		t.Errorf("cell result %q differs from the printed estimate %v", sum.result(), estimate)
	}

	tables := displays(cells, "text/markdown")
	if len(tables) != 1 {
		t.Fatalf("%d Markdown tables, want 1", len(tables))
	}
	for r := 0; r < 4; r++ {
		if !strings.Contains(tables[0], fmt.Sprintf("\n| %d | %d | 78", r, 1+r)) {
			t.Errorf("table lacks rank %d (seed %d):\n%s", r, 1+r, tables[0])
		}
	}
	if !strings.Contains(tables[0], fmt.Sprintf("| **all** | | **%d** |", int(math.Round(estimate*1e6)))) {
		t.Errorf("table's total does not match the estimate %v:\n%s", estimate, tables[0])
	}
}

// TestHeat1D executes notebooks/heat-1d.ipynb: the grid split over 4 ranks,
// ghost cells filled from the neighbours by Sendrecv, the solution gathered
// to rank 0 within 1e-3 of the exact one, and one plot.
func TestHeat1D(t *testing.T) {
	cells := executeNotebook(t, "heat-1d.ipynb")

	split := codeCell(t, cells, 3).text("stdout")
	wantLines(t, "decomposition cell", split,
		"[0] points   0.. 14, x in [0.0000, 0.2373]",
		"[1] points  15.. 29, x in [0.2542, 0.4915]",
		"[2] points  30.. 44, x in [0.5085, 0.7458]",
		"[3] points  45.. 59, x in [0.7627, 1.0000]")
	if !strings.Contains(split, "[0] dx = 0.01695, dt = 0.000115, dt/dx² = 0.400, 871 steps to t = 0.1\n") {
		t.Errorf("decomposition cell lacks rank 0's grid line:\n%s", split)
	}

	// After one exchange, rank r's right ghost is rank r+1's first point and
	// rank r+1's left ghost is rank r's last point.
	halo := codeCell(t, cells, 7).text("stdout")
	haloRe := regexp.MustCompile(`^\[\d\] ghost (\S+) \| own (\S+) … (\S+) \| ghost (\S+)$`)
	var ghosts [4][]string
	for r := 0; r < 4; r++ {
		lines := rankLines(halo, r)
		if len(lines) != 1 || !haloRe.MatchString(lines[0]) {
			t.Fatalf("rank %d should print its ghost cells once:\n%s", r, halo)
		}
		ghosts[r] = haloRe.FindStringSubmatch(lines[0])[1:]
	}
	for r := 0; r < 3; r++ {
		if ghosts[r][3] != ghosts[r+1][1] || ghosts[r+1][0] != ghosts[r][2] {
			t.Errorf("ranks %d and %d did not swap their edge points:\n%s", r, r+1, halo)
		}
	}
	if ghosts[0][1] != "0.0000" || ghosts[3][2] != "0.0000" {
		t.Errorf("the boundary points should be 0:\n%s", halo)
	}

	steps := codeCell(t, cells, 9).text("stdout")
	for r := 0; r < 4; r++ {
		if lines := rankLines(steps, r); len(lines) != 1 || !strings.HasPrefix(lines[0], fmt.Sprintf("[%d] after 871 steps: ", r)) {
			t.Errorf("rank %d should report its points after 871 steps:\n%s", r, steps)
		}
	}
	wantWallTimes(t, "time-stepping cell", steps)

	// The %%compile cell says what it defined; the compiled loop gives the
	// interpreted loop's numbers; the timings are shown (not asserted: a
	// shared machine's times swing).
	if got := codeCell(t, cells, 11).text("stdout"); !strings.Contains(got, "compiled: const toRight, const toLeft, func Halo, func Steps") {
		t.Errorf("%%%%compile cell should list what it defined:\n%s", got)
	}
	compiled := codeCell(t, cells, 13).text("stdout")
	for r := 0; r < 4; r++ {
		if lines := rankLines(compiled, r); len(lines) == 0 || !strings.HasPrefix(lines[0], fmt.Sprintf("[%d] compiled: after 871 steps: ", r)) ||
			!strings.HasSuffix(lines[0], "max |compiled - interpreted| = 0.0e+00") {
			t.Errorf("rank %d: the compiled loop should give the interpreted numbers:\n%s", r, compiled)
		}
	}
	if !regexp.MustCompile(`(?m)^\[0\] 871 steps, slowest rank: interpreted \S+ ms, compiled \S+ ms: \S+× faster$`).MatchString(compiled) {
		t.Errorf("the compiled-step cell should compare the times:\n%s", compiled)
	}
	wantWallTimes(t, "compiled time-stepping cell", compiled)
	big := codeCell(t, cells, 15).text("stdout")
	m := regexp.MustCompile(`(?m)^\[0\] 20000 points per rank, 100 steps: interpreted \S+ ms, compiled \S+ ms: (\S+)× faster$`).FindStringSubmatch(big)
	if m == nil {
		t.Fatalf("the big-block cell should compare the times:\n%s", big)
	}
	t.Logf("heat-1d: %s%s", compiled, big)
	if x, err := strconv.ParseFloat(m[1], 64); err != nil || x < 5 {
		t.Errorf("compiled stencil only %s× faster than interpreted, want ≥ 5× (measured ~100×)", m[1])
	}

	check := codeCell(t, cells, 17).text("stdout")
	m = regexp.MustCompile(`^\[0\] t = 0\.1: max \|u - exact\| = (\S+) over 60 points `).FindStringSubmatch(check)
	if m == nil {
		t.Fatalf("comparison cell should print rank 0's max error over 60 points:\n%s", check)
	}
	if e, err := strconv.ParseFloat(m[1], 64); err != nil || e >= 1e-3 || e <= 0 {
		t.Errorf("max error %q, want 0 < error < 1e-3 (%v)", m[1], err)
	}

	pngs := displays(cells, "image/png")
	if len(pngs) != 1 {
		t.Fatalf("%d image/png outputs, want exactly 1", len(pngs))
	}
	if len(pngs[0]) < 10000 || !strings.HasPrefix(pngs[0], "iVBORw0KGgo") { // base64 of the PNG signature
		t.Errorf("the plot is not a PNG of some size: %d bytes of base64 starting %.20q", len(pngs[0]), pngs[0])
	}
}
