package compile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/traefik/yaegi/interp"

	"github.com/gompi-kernel/gompi-kernel/kernel/display"
	"github.com/gompi-kernel/gompi-kernel/kernel/session"
	"github.com/gompi-kernel/gompi-kernel/mpi"
	"github.com/gompi-kernel/gompi-kernel/registry"
)

// Plugin builds are slow on a shared machine (10 s and more cold), so the
// tests share one cache directory and one Builder and keep the number of
// distinct builds small: the stencil cell, its redefinition, a compile
// error, the third-party package, an interrupted build.

var (
	setupOnce sync.Once
	setupErr  error
	world     *mpi.World
	shared    *Builder
	loader    *Loader
	kernelX   interp.Exports // what a rank gives its session and loader
)

// recorder is a display.Publisher that keeps what was shown.
type recorder struct {
	mu    sync.Mutex
	shown []map[string]any
}

func (r *recorder) Display(data, _ map[string]any, _ string, _ bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.shown = append(r.shown, data)
}

func (r *recorder) Clear(bool) {}

var shown = &recorder{}

// setup makes the kernel's packages as a one-rank kernel has them (an MPI
// singleton) and the shared Builder and Loader.
func setup(t *testing.T) {
	t.Helper()
	setupOnce.Do(func() {
		if err := mpi.Init(); err != nil {
			setupErr = err
			return
		}
		world, setupErr = mpi.NewWorld(mpi.WorldComm())
		if setupErr != nil {
			return
		}
		// Package mpi as the kernel gives it to cells: MPI and the
		// registry API (pyMOR's ManageObject, GetObject, …) together.
		pkg := world.Symbols()
		for k, v := range registry.NewAPI(registry.New(), nil, nil, nil).Symbols() {
			pkg[k] = v
		}
		kernelX = interp.Exports{
			"gompi/mpi/mpi":         pkg,
			"gompi/display/display": display.New(shown).Symbols(),
		}
		cache := os.Getenv("GOMPI_TEST_CACHE")
		if cache == "" {
			cache = filepath.Join(os.TempDir(), "gompi-compile-test-cache")
		}
		shared, setupErr = NewBuilder(Options{CacheDir: cache, Shims: kernelX})
		loader = NewLoader("")
	})
	if setupErr != nil {
		t.Fatal(setupErr)
	}
}

// output is what a session's cells wrote; the session writes from its
// own goroutines.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

func (o *output) Reset() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Reset()
}

func newSession(t *testing.T) (*session.Session, *output) {
	t.Helper()
	out := &output{}
	s, err := session.New(session.Options{Exports: kernelX, PreImport: []string{"gompi/mpi", "gompi/display"}, Stdout: out, Stderr: out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, out
}

func run(t *testing.T, s *session.Session, code string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res := s.Execute(ctx, code)
	if res.Err != nil {
		t.Fatalf("cell %q: %s: %s", code, res.Err.Name, res.Err.Value)
	}
	if res.Data == nil {
		return ""
	}
	v, _ := res.Data["text/plain"].(string)
	return v
}

func build(t *testing.T, src string) *Artifact {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	a, err := shared.Compile(ctx, src, nil)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	t.Logf("built %s in %v (cached %v, %d bytes)", a.Key[:16], time.Since(start), a.Cached, len(a.Plugin))
	return a
}

// ship is what the kernel does between rank 0 and the others: the
// artifact travels as bytes.
func ship(t *testing.T, a *Artifact) *Artifact {
	t.Helper()
	b, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got Artifact
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	return &got
}

func bind(t *testing.T, s *session.Session, a *Artifact) {
	t.Helper()
	if err := loader.Bind(context.Background(), s, ship(t, a), kernelX); err != nil {
		t.Fatalf("Bind: %v", err)
	}
}

const stencilCell = `import (
	"math"
	"sync/atomic"
)

// Step is one sweep of a 1-D three-point stencil.
func Step(u, v []float64) {
	for i := 1; i < len(u)-1; i++ {
		v[i] = 0.25*u[i-1] + 0.5*u[i] + 0.25*u[i+1]
	}
}

func fib(n int) int {
	if n < 2 {
		return n
	}
	return fib(n-1) + fib(n-2)
}

// Grid is a field on a 1-D grid.
type Grid struct {
	U []float64
	H float64
}

func (g *Grid) Norm() float64 {
	s := 0.0
	for _, x := range g.U {
		s += x * x
	}
	return math.Sqrt(s * g.H)
}

func (g Grid) Len() int { return len(g.U) }

const N = 1000
const Scale float64 = 0.5

var Calls int

// Total sums u over all ranks with the kernel's MPI.
func Total(u []float64) float64 {
	Calls++
	s := []float64{0}
	for _, x := range u {
		s[0] += x
	}
	r := []float64{0}
	if err := mpi.Allreduce(s, r, mpi.Sum); err != nil {
		panic(err)
	}
	return r[0]
}

func Show(x float64) { display.Markdown(fmt.Sprintf("**total** %g on %d ranks", x, mpi.Size())) }

var spinState int32 // 1 while Spin runs, 2 once it returned

// Spin loops on mpi.Barrier until the kernel's MPI refuses (an interrupt).
func Spin() (int, error) {
	atomic.StoreInt32(&spinState, 1)
	defer atomic.StoreInt32(&spinState, 2)
	for i := 0; ; i++ {
		if err := mpi.Barrier(); err != nil {
			return i, err
		}
	}
}

func SpinState() int32 { return atomic.LoadInt32(&spinState) }

// Keep puts x in the rank's object registry (the kernel's, through the shim).
func Keep(x []float64) mpi.ObjectID { return mpi.ManageObject(x) }
`

const stencilInterpreted = `
func StepI(u, v []float64) {
	for i := 1; i < len(u)-1; i++ {
		v[i] = 0.25*u[i-1] + 0.5*u[i] + 0.25*u[i+1]
	}
}
func fibI(n int) int {
	if n < 2 {
		return n
	}
	return fibI(n-1) + fibI(n-2)
}
`

func TestCompiledCell(t *testing.T) {
	setup(t)
	a := build(t, stencilCell)
	if base := a.Package[strings.LastIndex(a.Package, "/")+1:]; !strings.HasPrefix(base, "cell_") || len(base) != 21 {
		t.Errorf("package path %s", a.Package)
	}
	want := "compiled: func Step, func fib, type Grid, method Grid.Norm, method Grid.Len, const N, const Scale, var Calls, func Total, func Show, var spinState, func Spin, func SpinState, func Keep"
	if got := a.Summary(); got != want {
		t.Errorf("Summary:\n got %s\nwant %s", got, want)
	}
	s, out := newSession(t)
	bind(t, s, a)
	run(t, s, stencilInterpreted)
	run(t, s, `u := make([]float64, 1000); for i := range u { u[i] = float64(i % 7) }
v1 := make([]float64, len(u)); v2 := make([]float64, len(u))
Step(u, v1); StepI(u, v2)`)
	if got := run(t, s, `same := true; for i := range v1 { if v1[i] != v2[i] { same = false } }; same`); got != "true" {
		t.Errorf("compiled and interpreted stencil differ")
	}
	if got, want := run(t, s, `fib(20)`), run(t, s, `fibI(20)`); got != want || got != "6765" {
		t.Errorf("fib(20) = %s compiled, %s interpreted", got, want)
	}
	if got := run(t, s, `g := &Grid{U: []float64{3, 4}, H: 1}; g.Norm()`); got != "5" {
		t.Errorf("g.Norm() = %s", got)
	}
	if got := run(t, s, `Grid{U: make([]float64, 3)}.Len()`); got != "3" {
		t.Errorf("Grid.Len() = %s", got)
	}
	if got := run(t, s, `2.5 * N`); got != "2500" {
		t.Errorf("untyped const: 2.5*N = %s", got)
	}
	if got := run(t, s, `Scale`); got != "0.5" {
		t.Errorf("Scale = %s", got)
	}
	if got := run(t, s, `Total([]float64{1, 2, 3.5})`); got != "6.5" {
		t.Errorf("Total (compiled mpi.Allreduce) = %s", got)
	}
	// A kernel type comes back from compiled code as the shim's own
	// declaration of it: a conversion makes it the cells' type again.
	if got := run(t, s, `o, _ := mpi.GetObject(mpi.ObjectID(Keep([]float64{1, 2}))); o`); got != "[1 2]" {
		t.Errorf("object managed by compiled code, got from a cell: %s", got)
	}
	run(t, s, `Show(6.5)`)
	shown.mu.Lock()
	if len(shown.shown) == 0 || shown.shown[len(shown.shown)-1]["text/markdown"] != "**total** 6.5 on 1 ranks" {
		t.Errorf("display from compiled code: %v", shown.shown)
	}
	shown.mu.Unlock()
	_ = out
}

// TestInterruptCompiledMPI interrupts a compiled loop that calls
// mpi.Barrier: the kernel's MPI (bound to the cell's context, as the rank
// engine binds it) refuses once the cell is interrupted, so the compiled
// loop ends instead of running on in the background.
func TestInterruptCompiledMPI(t *testing.T) {
	setup(t)
	s, _ := newSession(t)
	bind(t, s, build(t, stencilCell))
	ctx, cancel := context.WithCancel(context.Background())
	world.Bind(ctx)
	defer func() {
		world.Bind(context.Background())
		if world.Dirty() {
			if err := world.Renew(); err != nil {
				t.Errorf("Renew: %v", err)
			}
		}
	}()
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	res := s.Execute(ctx, `n, err := Spin()`)
	if res.Err == nil || res.Err.Name != "Interrupted" {
		t.Errorf("want Interrupted, got %+v", res.Err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for run(t, s, `SpinState()`) != "2" {
		if time.Now().After(deadline) {
			t.Fatal("the compiled loop still runs 5 s after the interrupt")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("interrupted after %v; compiled loop ended", time.Since(start))
}

func TestCacheHit(t *testing.T) {
	setup(t)
	build(t, stencilCell) // built or cached by TestCompiledCell
	before := shared.GoRuns()
	a := build(t, stencilCell)
	if !a.Cached || shared.GoRuns() != before {
		t.Errorf("second identical build: cached=%v, go commands run %d", a.Cached, shared.GoRuns()-before)
	}
	// A fresh Builder (a restarted kernel) finds it too.
	b2, err := NewBuilder(Options{CacheDir: shared.opts.CacheDir, Shims: kernelX, Go: "/nonexistent/go"})
	if err != nil {
		t.Fatal(err)
	}
	a2, err := b2.Compile(context.Background(), stencilCell, nil)
	if err != nil || !a2.Cached || b2.GoRuns() != 0 {
		t.Errorf("restarted builder: err=%v cached=%v go runs=%d", err, a2 != nil && a2.Cached, b2.GoRuns())
	}
}

func TestCompileErrorPosition(t *testing.T) {
	setup(t)
	_, err := shared.Compile(context.Background(), "func f() int {\n\treturn 1\n}\n\nfunc g() {\n\tx := f() + \"a\"\n}\n", nil)
	var ce *CompileError
	if !errors.As(err, &ce) {
		t.Fatalf("want a CompileError, got %v", err)
	}
	t.Logf("user sees:\n%v", err)
	if !strings.HasPrefix(err.Error(), "6:") {
		t.Errorf("error should start at the cell's line 6:\n%v", err)
	}
	// A syntax error is found without the go command.
	_, err = shared.Compile(context.Background(), "func f( {\n}\n", nil)
	if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), "1:9:") {
		t.Errorf("syntax error: %v", err)
	}
}

func TestMissingToolchain(t *testing.T) {
	setup(t)
	b, err := NewBuilder(Options{CacheDir: t.TempDir(), Env: []string{"PATH=/nonexistent", "HOME=" + os.Getenv("HOME")}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Compile(context.Background(), "func F() {}", nil)
	var te *ToolchainError
	if !errors.As(err, &te) {
		t.Fatalf("want a ToolchainError, got %v", err)
	}
	msg := err.Error()
	t.Logf("user sees: %s", msg)
	for _, want := range []string{"go1.", "no go command on PATH", "GOTOOLCHAIN=" + te.Want} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}

// redefinedCell replaces Step and Grid of stencilCell, and declares what
// must not cross from interpreted to compiled code.
const redefinedCell = `package main

import "github.com/montanaflynn/stats"

func Step(u, v []float64) {
	for i := range v {
		v[i] = 42
	}
}

type Grid struct{ N int }

func (g Grid) Twice() int { return 2 * g.N }

type Shape interface{ Area() float64 }

func Apply(s Shape) float64 { return s.Area() }

func Describe(v any) string { return fmt.Sprintf("%v", v) }

func Hello() { fmt.Println("hello from compiled code") }

func Boom() { panic("boom in compiled code") }

func main() { fmt.Println("script main on rank", mpi.Rank()) }

func Median(xs []float64) float64 {
	m, err := stats.Median(xs)
	if err != nil {
		panic(err)
	}
	return m
}
`

func TestRedefinition(t *testing.T) {
	setup(t)
	first, second := build(t, stencilCell), build(t, redefinedCell)
	if first.Package == second.Package {
		t.Fatalf("a changed cell must get a new package path, both are %s", first.Package)
	}
	s, out := newSession(t)
	bind(t, s, first)
	run(t, s, `old := &Grid{U: []float64{3, 4}, H: 1}`)
	bind(t, s, second)
	if got := run(t, s, `v := make([]float64, 2); Step(v, v); v`); got != "[42 42]" {
		t.Errorf("redefined Step: %s", got)
	}
	if got := run(t, s, `Grid{N: 4}.Twice()`); got != "8" {
		t.Errorf("redefined Grid: %s", got)
	}
	if got := run(t, s, `old.Norm()`); got != "5" {
		t.Errorf("a value of the old Grid keeps its methods: %s", got)
	}
	if got := run(t, s, `fib(10)`); got != "55" {
		t.Errorf("fib from the first cell, not redefined: %s", got)
	}
	// Interpreted values crossing into compiled code.
	if got := run(t, s, `type P struct{ X, Y int }; Describe(P{1, 2})`); got != `"{1 2}"` {
		t.Errorf("interpreted struct through any: %s", got)
	}
	if got := run(t, s, `type Sq struct{ A float64 }
func (s Sq) Area() float64 { return s.A * s.A }
Apply(Sq{2})`); got != "4" {
		t.Errorf("interpreted type as a compiled interface: %s", got)
	}
	out.Reset()
	run(t, s, `Hello()`)
	if !strings.Contains(out.String(), "hello from compiled code") {
		t.Errorf("compiled fmt.Println did not reach the cell's output: %q", out.String())
	}
	if got := run(t, s, `Median([]float64{5, 1, 3})`); got != "3" {
		t.Errorf("compiled code using a third-party module: %s", got)
	}
	// A panic in compiled code is the cell's error, not the end of the rank.
	res := s.Execute(context.Background(), `Boom()`)
	if res.Err == nil || !strings.Contains(res.Err.Value, "boom in compiled code") {
		t.Errorf("panic in compiled code: %+v", res.Err)
	}
	// An interpreted value of the wrong type is a compile error in the cell.
	res = s.Execute(context.Background(), `Apply(P{1, 2})`)
	if res.Err == nil || res.Err.Name != "CompileError" {
		t.Errorf("P lacks Area: want a CompileError, got %+v", res.Err)
	} else {
		t.Logf("user sees: %s: %s", res.Err.Name, res.Err.Value)
	}
	// Script mode: the loaded plugin's func main.
	x, err := loader.Open(second, kernelX)
	if err != nil {
		t.Fatal(err)
	}
	main, ok := Main(second, x)
	if !ok || !second.Main {
		t.Fatalf("Main: %v %v", ok, second.Main)
	}
	out.Reset()
	main()
	run(t, s, "") // a cell's end delivers all output written before it
	if !strings.Contains(out.String(), "script main on rank 0") {
		t.Errorf("script main's output: %q", out.String())
	}
	if got := run(t, s, `1 + 1`); got != "2" {
		t.Errorf("session unusable afterwards: %s", got)
	}
}

func TestInterruptBuild(t *testing.T) {
	setup(t)
	// Unique source, never in the cache, that takes the compiler seconds.
	var src strings.Builder
	fmt.Fprintf(&src, "// %d\nvar Table = [...]int{", time.Now().UnixNano())
	for i := 0; i < 200000; i++ {
		fmt.Fprintf(&src, "%d,", i)
	}
	src.WriteString("}\n")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	_, err := shared.Compile(ctx, src.String(), nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want an error wrapping context.Canceled, got %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("interrupted build returned after %v", d)
	}
	t.Logf("user sees: %v (after %v)", err, time.Since(start))
}

func TestVersionConflict(t *testing.T) {
	setup(t)
	b, err := NewBuilder(Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Get(context.Background(), "github.com/traefik/yaegi@v0.16.0")
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("want a ConflictError, got %v", err)
	}
	t.Logf("user sees: %v", err)
	for _, want := range []string{"github.com/traefik/yaegi", "v0.16.0", "v0.16.1", "%go get github.com/traefik/yaegi@v0.16.1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q", want)
		}
	}
	if b.GoRuns() != 0 {
		t.Errorf("a conflict with the kernel's own module is found without the go command")
	}
	// A transitive conflict: the go command raised a kernel module.
	gomod := "module gompi\n\ngo 1.26.8\n\nrequire (\n\tgithub.com/traefik/yaegi v0.16.2 // indirect\n\texample.com/x v1.0.0\n)\n"
	if got := requirements(gomod); got["github.com/traefik/yaegi"] != "v0.16.2" || got["example.com/x"] != "v1.0.0" {
		t.Errorf("requirements: %v", got)
	}
}

func TestThirdPartyModule(t *testing.T) {
	setup(t)
	b, err := NewBuilder(Options{CacheDir: shared.opts.CacheDir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if v, err := b.Get(ctx, "github.com/montanaflynn/stats@v0.14.0"); err != nil || v != "v0.14.0" {
		t.Fatalf("Get: %v %v", v, err)
	}
	s, _ := newSession(t)
	const pkg = "github.com/montanaflynn/stats"
	cellCode := "import (\n\t\"fmt\"\n\t\"gompi/mpi\"\n\t\"" + pkg + "\"\n)\nx := 1"
	if got := MissingImports(cellCode, s.HasPackage); len(got) != 1 || got[0] != pkg {
		t.Fatalf("MissingImports before loading: %v", got)
	}
	start := time.Now()
	a, err := b.Packages(ctx, []string{pkg}, nil)
	if err != nil {
		t.Fatalf("Packages: %v", err)
	}
	t.Logf("built %s in %v (cached %v)", a.Summary(), time.Since(start), a.Cached)
	x, err := loader.Open(ship(t, a), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Use(x); err != nil {
		t.Fatal(err)
	}
	if got := MissingImports(cellCode, s.HasPackage); len(got) != 0 {
		t.Errorf("MissingImports after loading: %v", got)
	}
	if got := run(t, s, "import \"github.com/montanaflynn/stats\"\nm, _ := stats.Mean([]float64{1, 2, 3, 6}); m"); got != "3" {
		t.Errorf("stats.Mean = %s", got)
	}
	if c := s.Complete("stats.Med", 9); !contains(c.Matches, "Median") {
		t.Errorf("completion of stats.Med: %v", c.Matches)
	}
	if got := run(t, s, `sum, _ := stats.Float64Data{1, 2, 3}.Sum(); sum`); got != "6" {
		t.Errorf("method of a third-party type: %s", got)
	}
}

func TestLocalModule(t *testing.T) {
	setup(t)
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":   "module example.com/mylib\n\ngo 1.22\n",
		"mylib.go": "// Package mylib is developed beside a notebook.\npackage mylib\n\nfunc Twice(x int) int { return 2 * x }\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := NewBuilder(Options{CacheDir: shared.opts.CacheDir, Shims: kernelX})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Replace("example.com/other", dir); err == nil || !strings.Contains(err.Error(), `declares module "example.com/mylib"`) {
		t.Errorf("Replace with the wrong module path: %v", err)
	}
	if err := b.Replace("example.com/mylib", dir); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	a, err := b.Compile(ctx, "import \"example.com/mylib\"\n\nfunc Quad(x int) int { return mylib.Twice(mylib.Twice(x)) }\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newSession(t)
	bind(t, s, a)
	if got := run(t, s, `Quad(3)`); got != "12" {
		t.Errorf("Quad(3) = %s", got)
	}
	// An edit of the library is a new build (a new key).
	src := "import \"example.com/mylib\"\n\nfunc Quad(x int) int { return mylib.Twice(mylib.Twice(x)) }\n"
	before := b.key("cell", src, "")
	if err := os.WriteFile(filepath.Join(dir, "mylib.go"), []byte("package mylib\n\nfunc Twice(x int) int { return x + x }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b.key("cell", src, "") == before {
		t.Error("an edit of a replaced module's source does not change the key")
	}
}

// TestTransitiveConflict: a module the cell uses needs a newer version of
// a module compiled into the kernel; the go command would raise it, and
// the plugin would not load. The build says so, naming both versions and
// who needs the newer one.
func TestTransitiveConflict(t *testing.T) {
	setup(t)
	// One minor version above the kernel's golang.org/x/text (the module
	// proxy serves x/text up to v0.44).
	d, ok := shared.host.dep("golang.org/x/text")
	if !ok {
		t.Skip("golang.org/x/text is not a module of this test binary")
	}
	var minor int
	if _, err := fmt.Sscanf(d.Version, "v0.%d.", &minor); err != nil {
		t.Skipf("x/text version %s", d.Version)
	}
	kernelText, newer := d.Version, fmt.Sprintf("v0.%d.0", minor+1)
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/needsnew\n\ngo 1.22\n\nrequire golang.org/x/text " + newer + "\n",
		"lib.go": "package needsnew\n\nfunc One() int { return 1 }\n",
		"go.sum": "",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := NewBuilder(Options{CacheDir: shared.opts.CacheDir})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Replace("example.com/needsnew", dir); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, err = b.Compile(ctx, "import \"example.com/needsnew\"\n\nfunc Two() int { return 2 * needsnew.One() }\n", nil)
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("want a ConflictError, got %v", err)
	}
	t.Logf("user sees: %v", err)
	for _, want := range []string{"golang.org/x/text " + newer, "golang.org/x/text " + kernelText, "example.com/needsnew"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q", want)
		}
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x || strings.HasSuffix(y, "."+x) {
			return true
		}
	}
	return false
}

// TestInitPanics: compiled code that calls mpi while the plugin is being
// opened (a package-level initializer) panics with an explanation, and the
// rank survives with a clear error.
func TestInitPanics(t *testing.T) {
	setup(t)
	// A shim of its own (one more symbol): identical shims are one package
	// per process, already bound by the plugins of other tests.
	x := interp.Exports{"gompi/mpi/mpi": map[string]reflect.Value{"TestOnly": reflect.ValueOf(func() int { return 7 })}}
	for k, v := range kernelX["gompi/mpi/mpi"] {
		x["gompi/mpi/mpi"][k] = v
	}
	b, err := NewBuilder(Options{CacheDir: shared.opts.CacheDir, Shims: x})
	if err != nil {
		t.Fatal(err)
	}
	a, err := b.Compile(context.Background(), "var Me = mpi.Rank() + mpi.TestOnly()\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newSession(t)
	err = loader.Bind(context.Background(), s, ship(t, a), x)
	if err == nil || !strings.Contains(err.Error(), "mpi.Rank was called while the compiled code was being loaded") {
		t.Fatalf("want the explanation, got %v", err)
	}
	t.Logf("user sees: %v", err)
	if got := run(t, s, `1 + 1`); got != "2" {
		t.Errorf("session after a failed load: %s", got)
	}
}

// guardedCell starts goroutines and callbacks that panic, as careless
// compiled code may: each is recovered and reported, and the rank lives.
// The untyped constants passed to go statements keep their parameter's
// type (Go evaluates the arguments before the goroutine starts).
const guardedCell = `import (
	"context"
	"time"
)

const Late = "late"

func fail(msg string, done chan bool) {
	defer close(done)
	panic(msg)
}

// Spawn panics in a goroutine of its own.
func Spawn(done chan bool) { go fail(Late, done) }

// Later panics in a time.AfterFunc callback.
func Later(done chan bool) {
	time.AfterFunc(time.Millisecond, func() { defer close(done); panic("timer") })
}

// WhenDone writes to a nil map in a context.AfterFunc callback.
func WhenDone(done chan bool) {
	ctx, cancel := context.WithCancel(context.Background())
	context.AfterFunc(ctx, func() {
		defer close(done)
		var m map[string]int
		m["x"] = 1
	})
	cancel()
}

func send(ch chan float64, x float64) { ch <- x }

// Halves sends 1.5 and 2 from two goroutines.
func Halves() float64 {
	ch := make(chan float64, 2)
	go send(ch, 3/2.0)
	go func(x float64) { ch <- x }(2)
	return <-ch + <-ch
}
`

func TestCompiledGoroutinePanics(t *testing.T) {
	setup(t)
	a := build(t, guardedCell)
	s, out := newSession(t)
	bind(t, s, a)
	for _, tc := range []struct{ call, want string }{
		{"Spawn", "panic: late [recovered]\n\tin a goroutine started by a cell; the goroutine ended, the session goes on"},
		{"Later", "panic: timer [recovered]"},
		{"WhenDone", "panic: assignment to entry in nil map [recovered]"},
	} {
		out.Reset()
		run(t, s, "done := make(chan bool); "+tc.call+"(done); <-done")
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), tc.want) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if got := out.String(); !strings.Contains(got, tc.want) {
			t.Errorf("%s: stderr %q, want %q", tc.call, got, tc.want)
		}
	}
	if got := run(t, s, "Halves()"); got != "3.5" {
		t.Errorf("Halves() = %s", got)
	}
	if got := run(t, s, "1 + 1"); got != "2" {
		t.Errorf("after the panics: %s", got)
	}
}

// TestCompiledExit: os.Exit and log.Fatalf in compiled code end the cell
// with an Exit error, as in an interpreted cell, not the process (and with
// it the MPI job); in a goroutine of compiled code os.Exit ends that
// goroutine. Compiled log lines reach the cell's output.
func TestCompiledExit(t *testing.T) {
	setup(t)
	a := build(t, `import (
	"fmt"
	"log"
	"os"
)

// Note logs a line.
func Note() { log.Println("note from compiled code") }

// Fail is a careless error check.
func Fail(x float64) {
	if x < 0 {
		log.Fatalf("negative: %g", x)
	}
}

// Quit prints and exits with code.
func Quit(code int) {
	fmt.Println("quitting")
	os.Exit(code)
}

// QuitLater exits in a goroutine of its own.
func QuitLater(done chan bool) {
	go func() {
		defer close(done)
		os.Exit(5)
	}()
}
`)
	s, out := newSession(t)
	bind(t, s, a)
	res := s.Execute(context.Background(), "Quit(4)")
	if res.Err == nil || res.Err.Name != session.ErrExit || res.Err.Value != "exit status 4" {
		t.Errorf("Quit(4): %+v, want an Exit error with exit status 4", res.Err)
	}
	run(t, s, "Note()")
	res = s.Execute(context.Background(), "Fail(-2)")
	if res.Err == nil || res.Err.Name != session.ErrExit || res.Err.Value != "exit status 1" {
		t.Errorf("Fail(-2): %+v, want an Exit error with exit status 1", res.Err)
	}
	run(t, s, "done := make(chan bool); QuitLater(done); <-done")
	want := "os.Exit(5) in a goroutine: the goroutine ended, the session goes on"
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), want) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := out.String(); !strings.Contains(got, want) || !strings.Contains(got, "quitting") || !strings.Contains(got, "negative: -2") ||
		!strings.Contains(got, "note from compiled code") {
		t.Errorf("output %q, want %q, Quit's line, Note's and Fail's log lines", got, want)
	}
	if got := run(t, s, "1 + 1"); got != "2" {
		t.Errorf("after os.Exit in compiled code: %s", got)
	}
}
