package session

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/traefik/yaegi/interp"

	"github.com/gompi-kernel/gompi-kernel/registry"
)

const vecCell = `
type Vec struct{ data []float64 }

func (v *Vec) Norm() float64 {
	s := 0.0
	for _, x := range v.data {
		s += x * x
	}
	return math.Sqrt(s)
}

func (v *Vec) Scale(a float64) { for i := range v.data { v.data[i] *= a } }

func (v *Vec) Axpy(a float64, x *Vec) *Vec {
	for i := range v.data {
		v.data[i] += a * x.data[i]
	}
	return v
}

func NewVec(n int) *Vec {
	v := &Vec{data: make([]float64, n)}
	for i := range v.data {
		v.data[i] = 1
	}
	return v
}
`

func newAPISession(t *testing.T) (*testSession, *registry.API) {
	t.Helper()
	api := registry.NewAPI(registry.New(), nil, nil, func() string { return "rank 0" })
	ts := newTestSession(t, Options{
		Exports:   interp.Exports{"gompi/mpi/mpi": api.Symbols()},
		PreImport: []string{"gompi/mpi"},
	})
	api.SetInterpreter(ts.Session, ts.Session)
	return ts, api
}

func TestLookupVec(t *testing.T) {
	ts, api := newAPISession(t)
	ts.run(t, vecCell)
	id, err := api.FunctionCallManage("NewVec", 4)
	if err != nil {
		t.Fatal(err)
	}
	n, err := api.MethodCall(id, "Norm")
	if err != nil || n != 2.0 {
		t.Fatalf("Norm = %v, %v", n, err)
	}
	_, err = api.MethodCall(id, "Nope")
	t.Logf("Nope: %v", err)
	if err == nil || !strings.Contains(err.Error(), "Nope") {
		t.Fatalf("Nope: %v", err)
	}
	if _, err := api.MethodCall(id, "Scale", 3); err != nil {
		t.Fatal(err)
	}
	n, _ = api.MethodCall(id, "Norm")
	if n != 6.0 {
		t.Fatalf("after Scale: %v", n)
	}
}

func TestLookupVecDirect(t *testing.T) {
	ts, api := newAPISession(t)
	ts.run(t, vecCell)
	id, err := api.FunctionCallManage("NewVec", 10)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := api.MethodCall(id, "Norm"); err != nil || math.Abs(n.(float64)-math.Sqrt(10)) > 1e-12 {
		t.Fatalf("Norm = %v, %v", n, err)
	}
	// An ObjectID argument stands for its object; the result is managed.
	id2, err := api.FunctionCallManage("NewVec", 10)
	if err != nil {
		t.Fatal(err)
	}
	id3, err := api.MethodCallManage(id, "Axpy", 3, id2) // 3: an int for a float64
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := api.MethodCall(id3, "Norm"); math.Abs(n.(float64)-4*math.Sqrt(10)) > 1e-12 {
		t.Fatalf("Norm after Axpy = %v", n)
	}
	for _, c := range []struct {
		name string
		err  func() error
		want string
	}{
		{"no method", func() error { _, err := api.MethodCall(id, "Nope"); return err }, "MethodCall: ObjectID(1).Nope: *Vec has no method Nope"},
		{"unknown function", func() error { _, err := api.FunctionCall("NoSuchFunc"); return err }, "FunctionCall: NoSuchFunc: no function NoSuchFunc"},
		{"not a name", func() error { _, err := api.FunctionCall("NewVec(3)"); return err }, "is not a function name"},
		{"not a function", func() error { _, err := api.FunctionCall("someVar"); return err }, "someVar is not a function"},
		{"argument count", func() error { _, err := api.FunctionCall("NewVec"); return err }, "FunctionCall: NewVec: want 1 argument, got 0"},
		{"argument type", func() error { _, err := api.FunctionCall("NewVec", "x"); return err }, `FunctionCall: NewVec: argument 1: cannot use "x" (string) as int`},
		{"method argument count", func() error { _, err := api.MethodCall(id, "Scale"); return err }, "MethodCall: ObjectID(1).Scale: want 1 argument, got 0"},
		{"panic", func() error { _, err := api.FunctionCall("NewVec", -1); return err }, "FunctionCall: NewVec: panic:"},
		{"unknown id", func() error { _, err := api.MethodCall(99, "Norm"); return err }, "registry: unknown ObjectID(99)"},
		{"no result", func() error { _, err := api.MethodCallManage(id, "Scale", 2); return err }, "no result to manage"},
	} {
		if c.name == "not a function" {
			ts.run(t, "someVar := 3")
		}
		err := c.err()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
	if err := api.RemoveObject(id); err != nil {
		t.Fatal(err)
	}
	if _, err := api.GetObject(id); err == nil || !strings.Contains(err.Error(), "unknown ObjectID(1) (removed)") {
		t.Fatalf("GetObject after RemoveObject: %v", err)
	}
	if _, err := api.MethodCall(id, "Norm"); err == nil {
		t.Fatal("MethodCall after RemoveObject succeeded")
	}
	// The session is still fine.
	if got := plain(ts.run(t, "1 + 1")); got != "2" {
		t.Fatalf("cell after errors = %q", got)
	}
}

func TestLookupFromCells(t *testing.T) {
	ts, _ := newAPISession(t)
	ts.run(t, vecCell)
	ts.run(t, `
id, err := mpi.FunctionCallManage("NewVec", 3)
if err != nil { panic(err) }
n, err := mpi.MethodCall(id, "Norm")
if err != nil { panic(err) }
fmt.Printf("%T %v %.4f\n", id, id, n)
`)
	if got := ts.out.String(); got != "registry.ObjectID ObjectID(1) 1.7321\n" {
		t.Fatalf("output %q", got)
	}
	if got := plain(ts.run(t, `_, err = mpi.MethodCall(id, "Nope"); err.Error()`)); !strings.Contains(got, "*Vec has no method Nope") {
		t.Fatalf("Nope from a cell: %s", got)
	}
	// An object made in a cell, managed from the cell, called by id.
	ts.run(t, `v := NewVec(4); id2 := mpi.ManageObject(v)`)
	if got := plain(ts.run(t, `r, _ := mpi.MethodCall(id2, "Norm"); r`)); got != "2" {
		t.Fatalf("Norm of cell-managed object = %s", got)
	}
	// GetObject gives the cell's value back, usable as its type.
	if got := plain(ts.run(t, `o, _ := mpi.GetObject(id2); o.(*Vec).Norm()`)); got != "2" {
		t.Fatalf("GetObject(..).(*Vec).Norm() = %s", got)
	}
	// ObjectID parameters of cell functions receive the id itself.
	ts.run(t, `func idOf(x mpi.ObjectID, v *Vec) string { return fmt.Sprint(x, " ", len(v.data)) }`)
	if got := plain(ts.run(t, `s, _ := mpi.FunctionCall("idOf", id2, id2); s`)); got != `"ObjectID(2) 4"` {
		t.Fatalf("idOf = %s", got)
	}
	ts.run(t, `mpi.RemoveObject(id)`)
	if got := plain(ts.run(t, `_, err = mpi.GetObject(id); err.Error()`)); got != `"GetObject: registry: unknown ObjectID(1) (removed)"` {
		t.Fatalf("GetObject after RemoveObject: %s", got)
	}
}

func TestLookupRunCodeNested(t *testing.T) {
	ts, api := newAPISession(t)
	// Between cells (a worker serving Call).
	if err := api.RunCode(`x := 40; fmt.Println("from RunCode")`); err != nil {
		t.Fatal(err)
	}
	if got := plain(ts.run(t, "x + 2")); got != "42" {
		t.Fatalf("x + 2 = %s", got)
	}
	// Inside a cell (a driver cell calling Call("RunCode", …)).
	ts.run(t, `
if err := mpi.RunCode("func twice(a int) int { return 2 * a }\ny := twice(x)"); err != nil { panic(err) }
fmt.Println("nested ok", y)
`)
	if got := plain(ts.run(t, "twice(y)")); got != "160" {
		t.Fatalf("twice(y) = %s", got)
	}
	if !strings.Contains(ts.out.String(), "from RunCode\n") || !strings.Contains(ts.out.String(), "nested ok 80\n") {
		t.Fatalf("output %q", ts.out.String())
	}
	// Failures come back as errors, nested or not.
	if err := api.RunCode("_ = undefinedThing"); err == nil || !strings.Contains(err.Error(), "undefined: undefinedThing") {
		t.Fatalf("RunCode error = %v", err)
	}
	if got := plain(ts.run(t, `mpi.RunCode("panic(\"boom\")").Error()`)); !strings.Contains(got, "Panic: boom") {
		t.Fatalf("nested panic = %s", got)
	}
	// ImportModule, between cells and nested.
	if err := api.ImportModule("encoding/hex"); err != nil {
		t.Fatal(err)
	}
	if got := plain(ts.run(t, `hex.EncodeToString([]byte{1})`)); got != `"01"` {
		t.Fatalf("hex = %s", got)
	}
	ts.run(t, `if err := mpi.ImportModule("unicode/utf8"); err != nil { panic(err) }`)
	if got := plain(ts.run(t, `utf8.RuneLen('é')`)); got != "2" {
		t.Fatalf("utf8 = %s", got)
	}
	if err := api.ImportModule("no/such/pkg"); err == nil {
		t.Fatal("importing a missing package succeeded")
	}
}

func TestLookupPackageFuncs(t *testing.T) {
	ts, api := newAPISession(t)
	r, err := api.FunctionCall("strings.ToUpper", "abc")
	if err != nil || r != "ABC" {
		t.Fatalf("strings.ToUpper = %v, %v", r, err)
	}
	// Not imported as a side effect: a cell may still use the name.
	ts.run(t, `strings := "mine"`)
	if got := plain(ts.run(t, "strings")); got != `"mine"` {
		t.Fatalf("strings = %s", got)
	}
	if r, err := api.FunctionCall("math.Sqrt", 16); err != nil || r != 4.0 {
		t.Fatalf("math.Sqrt = %v, %v", r, err)
	}
	if r, err := api.FunctionCall("fmt.Sprint", 1, "a", 2.5); err != nil || r != "1a2.5" {
		t.Fatalf("fmt.Sprint (variadic) = %v, %v", r, err)
	}
	if _, err := api.FunctionCall("math.Nope"); err == nil || !strings.Contains(err.Error(), "no function Nope in package math") {
		t.Fatalf("math.Nope: %v", err)
	}
	if _, err := api.FunctionCall("math.Pi"); err == nil || !strings.Contains(err.Error(), "not a function") {
		t.Fatalf("math.Pi: %v", err)
	}
	// (T, error) results.
	if r, err := api.FunctionCall("strconv.Atoi", "12"); err != nil || r != 12 {
		t.Fatalf("Atoi = %v, %v", r, err)
	}
	if _, err := api.FunctionCall("strconv.Atoi", "x"); err == nil || !strings.Contains(err.Error(), "FunctionCall: strconv.Atoi: strconv.Atoi: parsing") {
		t.Fatalf("Atoi error: %v", err)
	}
	// Functions and func-valued globals of cells, variadic too.
	ts.run(t, `func sum(xs ...float64) float64 { s := 0.0; for _, x := range xs { s += x }; return s }
var double = func(a int) int { return 2 * a }
func pair() (int, string) { return 1, "a" }`)
	if r, err := api.FunctionCall("sum", 1, 2.5, 3); err != nil || r != 6.5 {
		t.Fatalf("sum = %v, %v", r, err)
	}
	if r, err := api.FunctionCall("sum"); err != nil || r != 0.0 {
		t.Fatalf("sum() = %v, %v", r, err)
	}
	if r, err := api.FunctionCall("double", 21); err != nil || r != 42 {
		t.Fatalf("double = %v, %v", r, err)
	}
	if r, err := api.FunctionCall("pair"); err != nil || fmt.Sprint(r) != "[1 a]" {
		t.Fatalf("pair = %v, %v", r, err)
	}
	// Invoke: builtins by name, other names resolved, no ObjectID mapping.
	if r, err := api.Invoke("FunctionCall", []any{"double", 4}); err != nil || r != 8 {
		t.Fatalf("Invoke FunctionCall = %v, %v", r, err)
	}
	if r, err := api.Invoke("double", []any{5}); err != nil || r != 10 {
		t.Fatalf("Invoke double = %v, %v", r, err)
	}
	id, err := api.Invoke("ManageObject", []any{[]float64{1, 2}})
	if err != nil || id != registry.ObjectID(1) {
		t.Fatalf("Invoke ManageObject = %v, %v", id, err)
	}
	ts.run(t, `func show(x any) string { return fmt.Sprintf("%T", x) }`)
	if r, err := api.Invoke("show", []any{id}); err != nil || r != "registry.ObjectID" {
		t.Fatalf("Invoke maps ids: %v, %v", r, err)
	}
	if r, err := api.Invoke("FunctionCall", []any{"show", id}); err != nil || r != "[]float64" {
		t.Fatalf("FunctionCall does not map ids: %v, %v", r, err)
	}
	if _, err := api.Invoke("GetObject", []any{7}); err == nil || err.Error() != "GetObject: registry: unknown ObjectID(7)" {
		t.Fatalf("Invoke GetObject(7): %v", err)
	}
	if _, err := api.Invoke("RunCode", nil); err == nil || err.Error() != "RunCode: want 1 argument, got 0" {
		t.Fatalf("Invoke RunCode(): %v", err)
	}
	if info := api.Info(); info != "rank 0; 1 managed object: ObjectID(1) []float64" {
		t.Fatalf("Info = %q", info)
	}
}

func TestLookupGuardInterrupt(t *testing.T) {
	ts, api := newAPISession(t)
	ts.run(t, `func spin() int { n := 0; for { n++ } ; return n }
func block() int { c := make(chan int); return <-c }
func nap() int { time.Sleep(time.Hour); return 1 }`)
	for _, fn := range []string{"spin", "block", "nap"} {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		api.Bind(ctx)
		start := time.Now()
		_, err := api.FunctionCall(fn)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "Interrupted") {
			t.Fatalf("%s: %v", fn, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("%s took %v", fn, d)
		}
	}
	api.Bind(nil)
	if r, err := api.FunctionCall("strings.Repeat", "ab", 2); err != nil || r != "abab" {
		t.Fatalf("after interrupts: %v, %v", r, err)
	}
	if got := plain(ts.run(t, "1 + 2")); got != "3" {
		t.Fatalf("cell after interrupts = %s", got)
	}
}

func TestLookupAmbiguousTypes(t *testing.T) {
	ts, api := newAPISession(t)
	ts.run(t, `type A struct{ n int }
type B struct{ n int }
func (a *A) Get() int { return a.n }
func (b *B) Get() int { return -b.n }
func (b *B) Only() int { return 7 }
type C float64
func (c C) Half() float64 { return float64(c) / 2 }
func newB() *B { return &B{3} }`)
	id, err := api.FunctionCallManage("newB")
	if err != nil {
		t.Fatal(err)
	}
	if r, err := api.MethodCall(id, "Only"); err != nil || r != 7 {
		t.Fatalf("Only = %v, %v", r, err)
	}
	if _, err := api.MethodCall(id, "Get"); err == nil || !strings.Contains(err.Error(), "*A, *B") {
		t.Fatalf("ambiguous Get: %v", err)
	}
	cid := api.ManageObject(unwrapInterp(reflect.ValueOf(mustEval(t, ts, "C(5)"))).Interface())
	if r, err := api.MethodCall(cid, "Half"); err != nil || r != 2.5 {
		t.Fatalf("C.Half = %v, %v", r, err)
	}
	// A compiled type answers by reflection.
	sid := api.ManageObject(time.Duration(90) * time.Second)
	if r, err := api.MethodCall(sid, "Minutes"); err != nil || r != 1.5 {
		t.Fatalf("Duration.Minutes = %v, %v", r, err)
	}
}

func mustEval(t *testing.T, ts *testSession, src string) any {
	t.Helper()
	v, err := ts.lookupEval(src)
	if err != nil {
		t.Fatal(err)
	}
	return v.Interface()
}

func TestLookupNestedInterrupt(t *testing.T) {
	earlier := goroutineHeads()
	ts, _ := newAPISession(t)
	ts.run(t, `func spin() int { n := 0; for { n++ }; return n }`)
	for _, cell := range []string{
		`mpi.RunCode("for {}\n")`,
		`mpi.RunCode("c := make(chan int)\n<-c\n")`,
		"mpi.RunCode(`n := 0\nfor { n++ }`)\nfmt.Println(\"not reached\")",
		`mpi.FunctionCall("spin")`,
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		res := ts.Execute(ctx, cell)
		cancel()
		if res.Err == nil || res.Err.Name != ErrInterrupted {
			t.Fatalf("%q: %+v", cell, res.Err)
		}
		// The interrupted cell's code, nested run included, has ended:
		// the next cell's compile never races with it.
		if g := goroutinesIn("yaegi/interp.(*Interpreter).Execute(", earlier); g != "" {
			t.Fatalf("%q: after the interrupt a goroutine still runs the cell:\n%s", cell, g)
		}
	}
	if strings.Contains(ts.out.String(), "not reached") {
		t.Fatalf("output %q", ts.out.String())
	}
	if got := plain(ts.run(t, `mpi.RunCode("z := 5"); z`)); got != "5" {
		t.Fatalf("after interrupts: %s", got)
	}
}

// goroutinesIn returns the stacks of the goroutines with fn in their
// stack, or "", leaving out those whose first line is in skip (a goroutine
// of an earlier test, as goroutineHeads gives them).
func goroutinesIn(fn string, skip map[string]bool) string {
	var out []string
	for _, g := range goroutineStacks() {
		if strings.Contains(g, fn) && !skip[goroutineID(g)] {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// goroutineHeads returns the ids of the goroutines now running.
func goroutineHeads() map[string]bool {
	ids := map[string]bool{}
	for _, g := range goroutineStacks() {
		ids[goroutineID(g)] = true
	}
	return ids
}

func goroutineStacks() []string {
	buf := make([]byte, 1<<20)
	return strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n")
}

// goroutineID is "goroutine 94" for a stack that starts "goroutine 94 [...".
func goroutineID(stack string) string {
	f := strings.Fields(stack)
	if len(f) < 2 {
		return ""
	}
	return f[0] + " " + f[1]
}
