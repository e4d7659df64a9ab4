package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// compiledEnv gives kernels started by the test a fresh plugin cache (so
// that the first build of a cell really builds and the second is a hit),
// while keeping the go command's own build cache warm: a cold one costs
// tens of seconds per test run.
func compiledEnv(t *testing.T) {
	t.Helper()
	gocache, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Skipf("no go command to build plugins with: %v", err)
	}
	t.Setenv("GOCACHE", strings.TrimSpace(string(gocache)))
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
}

// shown joins everything a result showed as text: streams, and the last
// text of each display (a progress line is replaced by the result).
func (r result) shown() string {
	var b strings.Builder
	for _, m := range r.Msgs {
		switch m.Type {
		case "stream":
			b.WriteString(m.Content["text"].(string))
		case "display_data", "update_display_data":
			if d, ok := m.Content["data"].(map[string]any); ok {
				fmt.Fprintln(&b, d["text/plain"])
			}
		}
	}
	return b.String()
}

// errorOf is the ename and evalue of a failed execute.
func errorOf(r result) (string, string) {
	ename, _ := r.Reply["ename"].(string)
	evalue, _ := r.Reply["evalue"].(string)
	return ename, evalue
}

// compiledCell is the %%compile cell of TestCompiledCells: a stencil, a
// function calling mpi.Allreduce, a type with methods, a constant, and a
// loop that waits in mpi.Barrier until it is interrupted.
const compiledCell = `%%compile
import "gompi/mpi"

// Step is one Jacobi sweep of u into v.
func Step(u, v []float64) {
	for i := 1; i < len(u)-1; i++ {
		v[i] = 0.25*u[i-1] + 0.5*u[i] + 0.25*u[i+1]
	}
}

// Total sums x over every rank.
func Total(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	out := make([]float64, 1)
	if err := mpi.Allreduce([]float64{s}, out, mpi.Sum); err != nil {
		panic(err)
	}
	return out[0]
}

type Grid struct{ U []float64 }

func NewGrid(n int) *Grid { return &Grid{U: make([]float64, n)} }

func (g *Grid) Fill(v float64) {
	for i := range g.U {
		g.U[i] = v
	}
}

func (g *Grid) Norm1() float64 { return Total(g.U) }

const N = 1000

// Spin waits in Barrier until the cell is interrupted.
func Spin() int {
	n := 0
	for {
		if err := mpi.Barrier(); err != nil {
			return n
		}
		n++
	}
}
`

// TestCompiledCells drives a 4-rank kernel through %%compile cells as a
// user would: what a cell defined is listed, later cells call it at every
// rank (checked against the same code interpreted), mpi inside compiled
// code, methods, redefinition, the cache, a compile error with the cell's
// own line:column, interrupts of a compiled MPI loop and of a build.
func TestCompiledCells(t *testing.T) {
	compiledEnv(t)
	k := startKernel(t, 4)
	interp := `
func stepI(u, v []float64) {
	for i := 1; i < len(u)-1; i++ {
		v[i] = 0.25*u[i-1] + 0.5*u[i] + 0.25*u[i+1]
	}
}
u := make([]float64, N)
for i := range u {
	u[i] = float64((i * (mpi.Rank() + 3)) % 17)
}
a, b := make([]float64, N), make([]float64, N)
copy(a, u)
copy(b, u)
ta, tb := make([]float64, N), make([]float64, N)
for s := 0; s < 50; s++ {
	Step(a, ta)
	a, ta = ta, a
	stepI(b, tb)
	b, tb = tb, b
}
same, moved := true, false
for i := range a {
	same = same && a[i] == b[i]
	moved = moved || a[i] != u[i]
}
fmt.Println("equal", same, moved)`
	res := drive(t, k.connFile,
		exec1(compiledCell), // 0
		exec1(interp),       // 1
		exec1(`fmt.Println("total", Total([]float64{float64(mpi.Rank() + 1)}))`),  // 2
		exec1("g := NewGrid(N)\ng.Fill(0.5)\ng.Norm1()"),                          // 3
		exec1("%%compile\n\nfunc Bad() int {\n\tx := 1\n\treturn x + \"a\"\n}\n"), // 4
		exec1(`"alive after a compile error"`),                                    // 5
		exec1("%%compile\nfunc Step(u, v []float64) { v[0] = 42 }\n"),             // 6: redefinition
		exec1("v := make([]float64, 3)\nStep([]float64{1, 2, 3}, v)\nv[0]"),       // 7
		exec1(compiledCell), // 8: the same cell again
		exec1("w := make([]float64, 3)\nStep([]float64{4, 8, 4}, w)\nw[1]"), // 9
		action{"do": "execute", "code": "Spin()", "interrupt_after": 1.5},   // 10
		exec1(`fmt.Println("after", Total([]float64{1}))`),                  // 11
		action{"do": "execute", "code": fmt.Sprintf("%%%%compile\nconst Fresh = %d\n\nfunc Later() int { return Fresh }\n", time.Now().UnixNano()), "interrupt_after": 0.3}, // 12
		exec1(`"alive after an interrupted build"`), // 13
		// 14, 15: careless compiled code — a panicking goroutine and timer
		// callback are reported on every rank; the ranks live on.
		exec1("%%compile\nimport \"time\"\n\nfunc Boom(done chan bool) {\n\ttime.AfterFunc(time.Millisecond, func() { defer close(done); panic(\"late in compiled code\") })\n\tgo func() { panic(\"gone in compiled code\") }()\n}\n"),
		exec1("done := make(chan bool)\nBoom(done)\n<-done\ntime.Sleep(300 * time.Millisecond)"),
		exec1(`fmt.Println("alive", Total([]float64{1}))`),                   // 16
		exec1("%%time\n%%compile\nfunc Twice(x int) int { return 2 * x }\n"), // 17
		// 18-21: os.Exit and log.Fatalf in compiled code end the cell,
		// not the job.
		exec1("%%compile\nimport (\n\t\"log\"\n\t\"os\"\n)\n\nfunc Quit(code int) { os.Exit(code) }\n\nfunc Fail() { log.Fatalf(\"failed on %s\", \"purpose\") }\n"),
		exec1("Quit(4)"),
		exec1(`fmt.Println("alive", Total([]float64{1}))`),
		exec1("Fail()"), // 21
	)
	for i, r := range res {
		t.Logf("cell %d: %s %v\n%s", i, r.status(), r.Reply["evalue"], r.shown())
	}
	want := "compiled: func Step, func Total, type Grid, func NewGrid, method Grid.Fill, method Grid.Norm1, const N, func Spin"
	if res[0].status() != "ok" || !strings.Contains(res[0].shown(), want) {
		t.Errorf("%%%%compile cell: %s, shows %q, want %q", res[0].status(), res[0].shown(), want)
	}
	if strings.Contains(res[0].shown(), "(cached)") {
		t.Errorf("first build of the cell came from an empty cache: %q", res[0].shown())
	}
	checkProgress(t, res[0], "compiling", "compiled: ")
	t.Logf("%%%%compile cell (40 lines, mpi shim) on 4 ranks: built and loaded %.2f s; same cell from the cache %.3f s; a one-func redefinition %.2f s",
		res[0].Seconds, res[8].Seconds, res[6].Seconds)
	for r := 0; r < 4; r++ {
		if !printedBy(res[1].stream("stdout"), r, "equal true true") {
			t.Errorf("compiled stencil vs interpreted: want rank %d's \"equal true true\" in\n%s", r, res[1].stream("stdout"))
		}
		if !printedBy(res[2].stream("stdout"), r, "total 10") {
			t.Errorf("Allreduce in compiled code: want rank %d's \"total 10\" in\n%s", r, res[2].stream("stdout"))
		}
	}
	if got := textResult(res[3]); got != "2000" {
		t.Errorf("methods of a compiled type: Norm1 = %q, want 2000 (0.5 × 1000 × 4 ranks)", got)
	}
	ename, evalue := errorOf(res[4])
	if res[4].status() != "error" || ename != "CompileError" || !strings.HasPrefix(evalue, "5:9: invalid operation") {
		t.Errorf("compile error: %s %s: %q", res[4].status(), ename, evalue)
	}
	if n := len(res[4].of("error")); n != 1 {
		t.Errorf("compile error: %d error messages, want ONE", n)
	}
	if got := textResult(res[5]); got != `"alive after a compile error"` {
		t.Errorf("after a compile error: %q", got)
	}
	if !strings.Contains(res[6].shown(), "compiled: func Step") || textResult(res[7]) != "42" {
		t.Errorf("redefinition: %q, then Step gave %q, want 42", res[6].shown(), textResult(res[7]))
	}
	if !strings.Contains(res[8].shown(), want+" (cached)") || textResult(res[9]) != "6" {
		t.Errorf("the first cell again: %q (want it cached), Step gave %q, want 6", res[8].shown(), textResult(res[9]))
	}
	if ename, _ := errorOf(res[10]); res[10].status() != "error" || ename != "Interrupted" {
		t.Errorf("interrupting a compiled Barrier loop: %s %s %v", res[10].status(), ename, res[10].Reply["evalue"])
	}
	if !printedBy(res[11].stream("stdout"), 3, "after 4") {
		t.Errorf("MPI after the interrupt:\n%s", res[11].stream("stdout"))
	}
	if ename, evalue := errorOf(res[12]); res[12].status() != "error" || ename != "Interrupted" || !strings.Contains(evalue, "build") {
		t.Errorf("interrupting a build: %s %s %q", res[12].status(), ename, evalue)
	}
	if got := textResult(res[13]); got != `"alive after an interrupted build"` {
		t.Errorf("after an interrupted build: %q", got)
	}
	if out := res[17].stream("stdout"); !regexp.MustCompile(`Build and load: [0-9.]+m?s on rank 0; load: Wall time: \[0\] [0-9.]+[mµ]?s \[1\] .* \[3\] [0-9.]+[mµ]?s; slowest: rank \d`).MatchString(out) {
		t.Errorf("%%%%time on a %%%%compile cell: %q", out)
	}
	if ename, evalue := errorOf(res[19]); res[19].status() != "error" || ename != "Exit" || !strings.Contains(evalue, "exit status 4") {
		t.Errorf("os.Exit(4) in compiled code: %s %s %q", res[19].status(), ename, evalue)
	}
	if ename, evalue := errorOf(res[21]); res[21].status() != "error" || ename != "Exit" || !strings.Contains(evalue, "exit status 1") {
		t.Errorf("log.Fatalf in compiled code: %s %s %q", res[21].status(), ename, evalue)
	}
	for r := 0; r < 4; r++ {
		if !labelledMatch(res[21].stream("stderr"), r, func(l string) bool { return strings.HasSuffix(l, " failed on purpose") }) {
			t.Errorf("log.Fatalf in compiled code: want rank %d's \"failed on purpose\" in\n%s", r, res[21].stream("stderr"))
		}
		if !printedBy(res[20].stream("stdout"), r, "alive 4") {
			t.Errorf("after os.Exit in compiled code: want rank %d's \"alive 4\" in\n%s", r, res[20].stream("stdout"))
		}
		for _, want := range []string{"panic: late in compiled code [recovered]", "panic: gone in compiled code [recovered]"} {
			if !printedBy(res[15].stream("stderr"), r, want) {
				t.Errorf("a panic in compiled code's goroutine: want rank %d's %q in\n%s", r, want, res[15].stream("stderr"))
			}
		}
		if !printedBy(res[16].stream("stdout"), r, "alive 4") {
			t.Errorf("after panics in compiled goroutines: want rank %d's \"alive 4\" in\n%s", r, res[16].stream("stdout"))
		}
	}
}

// checkProgress checks the progress line of a build that took longer than
// a second: a display with an id, updated in place with the elapsed
// seconds, then cleared, and the result printed.
func checkProgress(t *testing.T, r result, what, done string) {
	t.Helper()
	var id string
	var texts []string
	cleared := -1
	for i, m := range r.Msgs {
		if m.Type == "clear_output" && id != "" && cleared < 0 {
			cleared = i
		}
		if m.Type != "display_data" && m.Type != "update_display_data" {
			continue
		}
		tr, _ := m.Content["transient"].(map[string]any)
		if tr == nil || tr["display_id"] == nil {
			t.Errorf("progress %s without a display id: %v", m.Type, m.Content)
			continue
		}
		if id == "" && m.Type == "display_data" {
			id = tr["display_id"].(string)
		}
		if tr["display_id"] != id || (m.Type == "display_data") != (len(texts) == 0) {
			t.Errorf("progress %s for display %v: want one display_data, then updates of %s", m.Type, tr["display_id"], id)
		}
		texts = append(texts, m.Content["data"].(map[string]any)["text/plain"].(string))
	}
	if len(texts) == 0 {
		if r.Seconds > 3 {
			t.Errorf("a build of %.1f s showed no progress line", r.Seconds)
		}
		return
	}
	tick := regexp.MustCompile(`^` + regexp.QuoteMeta(what) + `… (\d+) s$`)
	last := 0
	for i, text := range texts {
		m := tick.FindStringSubmatch(text)
		if m == nil {
			t.Errorf("progress line %d: %q, want %q… N s", i, text, what)
			continue
		}
		n, _ := strconv.Atoi(m[1])
		if n < 1 || n < last {
			t.Errorf("progress line %d: %q after %d s: elapsed seconds should count up from 1", i, text, last)
		}
		last = n
	}
	var after strings.Builder
	if cleared >= 0 {
		for _, m := range r.Msgs[cleared:] {
			if m.Type == "stream" {
				after.WriteString(m.Content["text"].(string))
			}
		}
	}
	if !strings.HasPrefix(after.String(), done) {
		t.Errorf("the progress line should be cleared and the result %q printed; after the clear: %q", done, after.String())
	}
	t.Logf("progress line: %q, then %q", texts, after.String())
}

// TestCompiledModules: a third-party module from the module proxy used in
// a cell, %go get and %go replace, and the version-conflict message.
func TestCompiledModules(t *testing.T) {
	compiledEnv(t)
	lib := t.TempDir()
	for name, src := range map[string]string{
		"go.mod":   "module example.com/mylib\n\ngo 1.22\n",
		"mylib.go": "package mylib\n\n// Twice doubles.\nfunc Twice(x int) int { return 2 * x }\n",
	} {
		if err := os.WriteFile(filepath.Join(lib, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	k := startKernel(t, 4)
	res := drive(t, k.connFile,
		exec1("%go get github.com/montanaflynn/stats@v0.14.0"), // 0
		exec1("import \"github.com/montanaflynn/stats\"\n\nm, _ := stats.Mean([]float64{1, 2, 3, float64(mpi.Rank())})\nfmt.Println(\"mean\", m)"), // 1
		exec1("import \"github.com/montanaflynn/stats\"\n\nmd, _ := stats.Median([]float64{5, 1, 3})\nmd"),                                         // 2
		exec1("%go get gonum.org/v1/gonum@v0.14.0"),                           // 3
		exec1("%go replace example.com/mylib => "+lib),                        // 4
		exec1("import \"example.com/mylib\"\n\nmylib.Twice(mpi.Rank() + 20)"), // 5
		action{"do": "complete", "code": "stats.Medi", "cursor_pos": 10},      // 6
	)
	for i, r := range res {
		t.Logf("cell %d: %s %v\n%s", i, r.status(), r.Reply["evalue"], r.shown())
	}
	if res[0].status() != "ok" || !strings.Contains(res[0].shown(), "github.com/montanaflynn/stats v0.14.0") {
		t.Errorf("%%go get: %s %q", res[0].status(), res[0].shown())
	}
	if !strings.Contains(res[1].shown(), "compiled github.com/montanaflynn/stats") {
		t.Errorf("first import of a module should say it was built: %q", res[1].shown())
	}
	checkProgress(t, res[1], "building github.com/montanaflynn/stats", "compiled github.com/montanaflynn/stats")
	for r := 0; r < 4; r++ {
		if l := fmt.Sprintf("[%d] mean %v\n", r, float64(6+r)/4); !strings.Contains(res[1].stream("stdout"), l) {
			t.Errorf("stats.Mean on every rank: want %q in\n%s", l, res[1].stream("stdout"))
		}
	}
	if textResult(res[2]) != "3" || strings.Contains(res[2].shown(), "compiled") {
		t.Errorf("second cell importing the module: %q, shows %q (nothing to build)", textResult(res[2]), res[2].shown())
	}
	ename, evalue := errorOf(res[3])
	for _, w := range []string{"gonum.org/v1/gonum v0.14.0", "gonum.org/v1/gonum v0.17.0 compiled into the kernel", "%go get gonum.org/v1/gonum@v0.17.0"} {
		if ename != "VersionConflict" || !strings.Contains(evalue, w) {
			t.Errorf("version conflict: %s %q lacks %q", ename, evalue, w)
		}
	}
	if m, _ := res[6].Reply["matches"].([]any); len(m) == 0 || !strings.Contains(fmt.Sprint(m), "Median") {
		t.Errorf("completion of a module's names: %v", res[6].Reply)
	}
	t.Logf("first import of stats (extract + build + load on 4 ranks): %.2f s; next cell: %.3f s", res[1].Seconds, res[2].Seconds)
	if res[4].status() != "ok" || textResult(res[5]) != "40" {
		t.Errorf("%%go replace: %s %q; mylib.Twice = %q", res[4].status(), res[4].shown(), textResult(res[5]))
	}
}

// TestCompiledNoToolchain: without a go command the kernel says which
// toolchain it needs, and the session goes on.
func TestCompiledNoToolchain(t *testing.T) {
	t.Setenv("PATH", "/usr/bin:/bin")
	k := startKernel(t, 2)
	res := drive(t, k.connFile,
		exec1("%%compile\nfunc F() int { return 1 }\n"),
		exec1("1 + 1"),
	)
	ename, evalue := errorOf(res[0])
	for _, w := range []string{"compiled cells need the Go toolchain go1.", "there is no go command on PATH", "GOTOOLCHAIN=go1."} {
		if ename != "ToolchainError" || !strings.Contains(evalue, w) {
			t.Errorf("no toolchain: %s %q lacks %q", ename, evalue, w)
		}
	}
	if got := textResult(res[1]); got != "2" {
		t.Errorf("after the toolchain error: %q", got)
	}
}

// compiledScript is a script for TestCompiledScript: its type's name says
// whether it ran compiled ("main.point"; yaegi's types have no package),
// a compiled loop calls mpi.Allreduce on every rank (--all), and rank 0
// exits with the status the script gives os.Exit.
const compiledScript = `//go:build ignore

package main

import (
	"fmt"
	"os"

	"gompi/mpi"
)

type point struct{ X, Y int }

func main() {
	total := make([]float64, 1)
	if err := mpi.Allreduce([]float64{float64(mpi.Rank())}, total, mpi.Sum); err != nil {
		panic(err)
	}
	fmt.Printf("%T total %v args %v\n", point{}, total[0], os.Args[1:])
	if mpi.Rank() == 0 {
		os.Exit(3)
	}
}
`

// TestCompiledScript is gompi-kernel run with a compiled script: output,
// arguments and the exit status as when interpreted (--interpret), the
// plugin cache on the second run, and a compile error as go run shows it.
func TestCompiledScript(t *testing.T) {
	compiledEnv(t)
	p := writeScript(t, compiledScript)
	code, out, errs := runScript(t, 4, "", "run", "--all", "--log-level", "info", p, "a b", "c")
	if code != 3 {
		t.Errorf("compiled: exit %d, want the script's 3\n%s\n%s", code, out, errs)
	}
	for r := 0; r < 4; r++ {
		if !printedBy(out, r, "main.point total 6 args [a b c]") {
			t.Errorf("compiled: stdout lacks rank %d's \"main.point total 6 args [a b c]\":\n%s", r, out)
		}
	}
	if !strings.Contains(errs, "plugin built") {
		t.Errorf("first run should build the plugin:\n%s", errs)
	}
	code, _, errs = runScript(t, 2, "", "run", "--all", "--log-level", "info", p)
	if code != 3 || !strings.Contains(errs, "plugin from cache") || strings.Contains(errs, "plugin built") {
		t.Errorf("second run: exit %d, want 3 and the plugin from the cache:\n%s", code, errs)
	}
	code, out, errs = runScript(t, 4, "", "run", "--all", "--interpret", p, "a b", "c")
	interpreted := labelledMatch(out, 2, func(l string) bool { return strings.HasSuffix(l, " total 6 args [a b c]") })
	if code != 3 || !interpreted || strings.Contains(out, "main.point") {
		t.Errorf("--interpret: exit %d, want 3 and the output interpreted:\n%s\n%s", code, out, errs)
	}
	bad := writeScript(t, "package main\n\nfunc main() {\n\tvar x int = \"no\"\n}\n")
	code, _, errs = runScript(t, 2, "", "run", bad)
	if want := bad + ":4:14: cannot use \"no\""; code != 1 || !strings.Contains(errs, want) {
		t.Errorf("compile error: exit %d, want 1 and %q:\n%s", code, want, errs)
	}
}

// TestCompiledStdio: loading a plugin points os.Stdout and os.Stderr at
// the cells' capture pipes, process-wide. The kernel's own writers must
// not follow: its log still reaches its stderr after a load, compiled
// fmt.Println reaches the cell, and a worker killed by a fatal error in a
// compiled goroutine (a panic there is recovered; an unlock of an unlocked
// mutex is not) is still reported with the runtime's words (the lifeline
// owns descriptor 2), which stay out of the cells' output.
func TestCompiledStdio(t *testing.T) {
	compiledEnv(t)
	k := startKernel(t, 2, "--log-level", "debug")
	res := drive(t, k.connFile,
		exec1("%%compile\nimport (\n\t\"fmt\"\n\t\"sync\"\n\t\"time\"\n)\n\nfunc Hello(r int) { fmt.Println(\"compiled hello from\", r) }\n\nfunc Boom() {\n\tvar mu sync.Mutex\n\tgo func() { mu.Unlock() }()\n\ttime.Sleep(5 * time.Second)\n}\n"),
		exec1("Hello(mpi.Rank())"),
		exec1("if mpi.Rank() == 1 {\n\tBoom()\n}\nmpi.Barrier()"),
	)
	for r := 0; r < 2; r++ {
		if l := fmt.Sprintf("[%d] compiled hello from %d\n", r, r); !strings.Contains(res[1].stream("stdout"), l) {
			t.Errorf("compiled fmt.Println: want %q in\n%s", l, res[1].stream("stdout"))
		}
	}
	ename, evalue := errorOf(res[2])
	if ename != "RankDied" || !strings.Contains(evalue, "fatal error: sync: unlock of unlocked mutex") {
		t.Errorf("worker death after a load: %s %q", ename, evalue)
	}
	if strings.Contains(res[2].stream("stderr"), "goroutine") {
		t.Errorf("the dying worker's stderr reached the cell:\n%s", res[2].stream("stderr"))
	}
	k.wait(30 * time.Second)
	if !strings.Contains(k.stderr.String(), "plugin loaded on every rank") || !strings.Contains(k.stderr.String(), "unlock of unlocked mutex") {
		t.Errorf("kernel stderr lacks its log after the load or the worker's last words:\n%s", k.stderr)
	}
}

// TestCompiledREPL: in `gompi-kernel repl` a %%compile cell takes the lines
// up to an empty one, and says what it defined, even when the build was
// long enough for a progress line (a terminal cannot redraw it).
func TestCompiledREPL(t *testing.T) {
	compiledEnv(t)
	in := "%%compile\nfunc Triple(x int) int {\n\treturn 3 * x\n}\n\nTriple(14)\n"
	code, out, errs := runScript(t, 2, in, "repl")
	if code != 0 || !strings.Contains(out, "compiled: func Triple\n") || !strings.Contains(out, "gompi> 42\n") {
		t.Errorf("exit %d\n%s\n%s", code, out, errs)
	}
	if strings.Contains(out, "compiling… 2 s") {
		t.Errorf("a terminal should not get every progress tick:\n%s", out)
	}
}

// TestCompiledConsole is a person at `jupyter console` on 4 ranks typing a
// %%compile cell: it goes on until an empty line, says what it defined,
// and the next input calls it.
func TestCompiledConsole(t *testing.T) {
	compiledEnv(t)
	installSpec(t, "gompi-compiled", 4)
	env := []string{"JUPYTER_DATA_DIR=" + getenv(t, "JUPYTER_DATA_DIR"), "JUPYTER_RUNTIME_DIR=" + getenv(t, "JUPYTER_RUNTIME_DIR"),
		"XDG_CACHE_HOME=" + getenv(t, "XDG_CACHE_HOME"), "GOCACHE=" + getenv(t, "GOCACHE"), "PATH=" + getenv(t, "PATH")}
	s := newTmux(t, env, "jupyter console --kernel gompi-compiled")
	t.Cleanup(func() {
		for _, pid := range processesOf(getenv(t, "JUPYTER_RUNTIME_DIR")) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	start := time.Now()
	s.waitFor("In [1]:", 90*time.Second)
	t.Logf("console ready after %v", time.Since(start))
	for attempt := 0; ; attempt++ {
		// Each Enter asks the kernel is_complete; keys typed before the
		// answer are lost in jupyter console 6.4, so a person's pace.
		s.typeLine("%%compile")
		time.Sleep(1500 * time.Millisecond)
		s.typeLine("func Nine() int { return 9 }")
		time.Sleep(1500 * time.Millisecond)
		exec.Command("tmux", "send-keys", "-t", s.name, "Enter").Run()
		if s.tryWaitFor("compiled: func Nine", 30*time.Second) {
			break
		}
		if attempt == 2 {
			t.Fatalf("the %%%%compile cell never ran; the screen shows:\n%s", s.screen())
		}
		t.Logf("attempt %d: the cell did not run; the screen shows:\n%s", attempt, s.screen())
		exec.Command("tmux", "send-keys", "-t", s.name, "C-c").Run()
		time.Sleep(500 * time.Millisecond)
	}
	s.waitFor("In [2]:", 30*time.Second)
	s.typeLine("Nine() * mpi.Size()")
	s.waitFor("]: 36", 30*time.Second)
	s.typeLine("exit")
}
