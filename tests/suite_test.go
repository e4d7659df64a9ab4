package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestJupyterKernelTest runs Debian's jupyter_kernel_test suite against the
// installed kernelspec at 1 and at 4 ranks, with no test skipped.
func TestJupyterKernelTest(t *testing.T) {
	for _, ranks := range []int{1, 4} {
		t.Run(fmt.Sprintf("ranks=%d", ranks), func(t *testing.T) {
			name := fmt.Sprintf("gompi-suite-%d", ranks)
			installSpec(t, name, ranks)
			cmd := exec.Command(python, filepath.Join(repoDir, "tests", "py", "kernel_suite.py"))
			cmd.Env = append(os.Environ(), "GOMPI_KERNEL_NAME="+name)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("jupyter_kernel_test failed: %v\n%s", err, out)
			}
			skipped := regexp.MustCompile(`(?m)^(test_\w+) \(.*\) \.\.\. skipped`).FindAllStringSubmatch(string(out), -1)
			var names []string
			for _, m := range skipped {
				names = append(names, m[1])
			}
			sort.Strings(names)
			if len(names) > 0 {
				t.Errorf("skipped %v, want none\n%s", names, out)
			}
			if !regexp.MustCompile(`(?m)^OK$`).Match(out) {
				t.Errorf("suite did not end OK:\n%s", out)
			}
			t.Logf("%s", lastLines(string(out), 3))
		})
	}
}

// TestNotebook executes notebooks/first-steps.ipynb with nbconvert at 4
// ranks through the kernelspec and checks what each cell shows.
func TestNotebook(t *testing.T) {
	installSpec(t, "gompi", 4)
	outDir := t.TempDir()
	cmd := exec.Command("jupyter", "nbconvert", "--to", "notebook", "--execute",
		"--ExecutePreprocessor.kernel_name=gompi", "--ExecutePreprocessor.timeout=120",
		"--output-dir", outDir, filepath.Join(repoDir, "notebooks", "first-steps.ipynb"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nbconvert --execute: %v\n%s", err, out)
	}
	cells := readNotebook(t, filepath.Join(outDir, "first-steps.ipynb"))

	hello := cells[1].text("stdout")
	for r := 0; r < 4; r++ {
		if want := fmt.Sprintf("[%d] hello from rank %d of 4\n", r, r); !strings.Contains(hello, want) {
			t.Errorf("cell 1 lacks %q:\n%s", want, hello)
		}
	}
	if got := cells[3].text("stdout"); !strings.Contains(got, "[3] **** [0 1 4 9]\n") || !strings.Contains(got, "[0] * [0]\n") {
		t.Errorf("cell 3:\n%s", got)
	}
	if got := cells[5].result(); got != "16" {
		t.Errorf("cell 5 result %q, want 16", got)
	}
	parts := cells[7].text("stdout")
	for r := 0; r < 4; r++ {
		sum := 0
		for i := 1 + r; i <= 1000; i += 4 {
			sum += i
		}
		if want := fmt.Sprintf("[%d] partial sum %d\n", r, sum); !strings.Contains(parts, want) {
			t.Errorf("cell 7 lacks %q:\n%s", want, parts)
		}
	}
}

type nbCell struct {
	CellType string `json:"cell_type"`
	Outputs  []struct {
		OutputType string         `json:"output_type"`
		Name       string         `json:"name"`
		Text       any            `json:"text"`
		Data       map[string]any `json:"data"`
	} `json:"outputs"`
}

func readNotebook(t *testing.T, path string) []nbCell {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var nb struct {
		Cells []nbCell `json:"cells"`
	}
	if err := json.Unmarshal(b, &nb); err != nil {
		t.Fatal(err)
	}
	return nb.Cells
}

// joinText reads nbformat's multiline strings (a string or a list of them).
func joinText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		var b strings.Builder
		for _, s := range x {
			b.WriteString(fmt.Sprint(s))
		}
		return b.String()
	}
	return ""
}

func (c nbCell) text(stream string) string {
	var b strings.Builder
	for _, o := range c.Outputs {
		if o.OutputType == "stream" && o.Name == stream {
			b.WriteString(joinText(o.Text))
		}
	}
	return b.String()
}

func (c nbCell) result() string {
	for _, o := range c.Outputs {
		if o.OutputType == "execute_result" {
			return joinText(o.Data["text/plain"])
		}
	}
	return ""
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestDistributedVectorNotebook executes notebooks/distributed-vector.ipynb
// at 4 ranks: rank 0 drives through ObjectIDs, and the distributed results
// equal the one-rank computation.
func TestDistributedVectorNotebook(t *testing.T) {
	installSpec(t, "gompi", 4)
	outDir := t.TempDir()
	cmd := exec.Command("jupyter", "nbconvert", "--to", "notebook", "--execute",
		"--ExecutePreprocessor.kernel_name=gompi", "--ExecutePreprocessor.timeout=300",
		"--output-dir", outDir, filepath.Join(repoDir, "notebooks", "distributed-vector.ipynb"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nbconvert --execute: %v\n%s", err, out)
	}
	cells := readNotebook(t, filepath.Join(outDir, "distributed-vector.ipynb"))
	if got := cells[4].text("stdout"); !strings.Contains(got, "[0] inner(x, y) = -18.940777  norm(2x - y) = 4999.937510  errors: <nil> <nil>") {
		t.Errorf("driver cell:\n%s", got)
	}
	info := cells[6].text("stdout")
	for r := 0; r < 4; r++ {
		if want := fmt.Sprintf("[%d] rank %d/4", r, r); !strings.Contains(info, want) {
			t.Errorf("Info lacks %q:\n%s", want, info)
		}
	}
	if !strings.Contains(info, "3 managed objects") {
		t.Errorf("Info does not list the 3 vectors:\n%s", info)
	}
	if got := cells[8].text("stdout"); !strings.Contains(got, "distributed equals serial: true true") {
		t.Errorf("serial check:\n%s", got)
	}
	if got := cells[10].text("stdout"); !strings.Contains(got, "[3] ") || !strings.Contains(got, "0 managed objects") {
		t.Errorf("after RemoveObject:\n%s", got)
	}
}

// TestPlotNotebook executes notebooks/plot-gather.ipynb at 4 ranks: data
// gathered to rank 0 and plotted inline as one PNG.
func TestPlotNotebook(t *testing.T) {
	installSpec(t, "gompi", 4)
	outDir := t.TempDir()
	cmd := exec.Command("jupyter", "nbconvert", "--to", "notebook", "--execute",
		"--ExecutePreprocessor.kernel_name=gompi", "--ExecutePreprocessor.timeout=120",
		"--output-dir", outDir, filepath.Join(repoDir, "notebooks", "plot-gather.ipynb"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nbconvert --execute: %v\n%s", err, out)
	}
	cells := readNotebook(t, filepath.Join(outDir, "plot-gather.ipynb"))
	var pngs int
	for _, c := range cells {
		for _, o := range c.Outputs {
			if o.OutputType == "display_data" {
				if png, ok := o.Data["image/png"].(string); ok && len(png) > 1000 {
					pngs++
				}
			}
			if o.OutputType == "error" {
				t.Errorf("a cell failed: %+v", o)
			}
		}
	}
	if pngs != 1 {
		t.Errorf("%d PNG plots, want 1", pngs)
	}
	if got := cells[3].text("stdout"); strings.Count(got, "] phase") != 4 {
		t.Errorf("cell 3 should print one line per rank:\n%s", got)
	}
}
