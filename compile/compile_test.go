package compile

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/traefik/yaegi/interp"

	"github.com/gompi-kernel/gompi-kernel/kernel/display"
	"github.com/gompi-kernel/gompi-kernel/kernel/session"
	"github.com/gompi-kernel/gompi-kernel/mpi"
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
		kernelX = interp.Exports{
			"gompi/mpi/mpi":         world.Symbols(),
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

func newSession(t *testing.T) (*session.Session, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	s, err := session.New(session.Options{Exports: kernelX, PreImport: []string{"gompi/mpi", "gompi/display"}, Stdout: &out, Stderr: &out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, &out
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

const stencilCell = `import "math"

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
	want := "compiled: func Step, func fib, type Grid, method Grid.Norm, method Grid.Len, const N, const Scale, var Calls, func Total, func Show"
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
	run(t, s, `Show(6.5)`)
	shown.mu.Lock()
	if len(shown.shown) == 0 || shown.shown[len(shown.shown)-1]["text/markdown"] != "**total** 6.5 on 1 ranks" {
		t.Errorf("display from compiled code: %v", shown.shown)
	}
	shown.mu.Unlock()
	_ = out
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
