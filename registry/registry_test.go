package registry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestRegistryIDs(t *testing.T) {
	r := New()
	a, b := r.Manage("a"), r.Manage(2)
	if a != 1 || b != 2 {
		t.Fatalf("ids %v %v", a, b)
	}
	if got := fmt.Sprint(a); got != "ObjectID(1)" {
		t.Fatalf("String = %q", got)
	}
	if v, err := r.Get(b); err != nil || v != 2 {
		t.Fatalf("Get = %v, %v", v, err)
	}
	if err := r.Remove(a); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[ObjectID]string{
		a: "registry: unknown ObjectID(1) (removed)",
		7: "registry: unknown ObjectID(7)",
		0: "registry: unknown ObjectID(0) (the zero ObjectID names no object)",
	} {
		if _, err := r.Get(id); err == nil || err.Error() != want {
			t.Errorf("Get(%v) = %v, want %q", id, err, want)
		}
	}
	if err := r.Remove(a); err == nil {
		t.Fatal("second Remove succeeded")
	}
	if c := r.Manage(nil); c != 3 {
		t.Fatalf("ids are not reused: %v", c)
	}
	if got := fmt.Sprint(r.List()); got != "[{ObjectID(2) int} {ObjectID(3) <nil>}]" {
		t.Fatalf("List = %s", got)
	}
}

// names is a Resolver over a fixed table; methods by reflection.
type names map[string]any

func (n names) Func(name string) (reflect.Value, error) {
	f, ok := n[name]
	if !ok {
		return reflect.Value{}, fmt.Errorf("no function %s", name)
	}
	return reflect.ValueOf(f), nil
}

func (n names) Method(obj any, name string) (reflect.Value, error) {
	m := reflect.ValueOf(obj).MethodByName(name)
	if !m.IsValid() {
		return m, fmt.Errorf("%T has no method %s", obj, name)
	}
	return m, nil
}

type vec []float64

func (v vec) Dot(w vec) float64 {
	s := 0.0
	for i := range v {
		s += v[i] * w[i]
	}
	return s
}

func (v vec) Scaled(a float64) vec {
	out := make(vec, len(v))
	for i := range v {
		out[i] = a * v[i]
	}
	return out
}

type runner struct{ code []string }

func (r *runner) RunCode(_ context.Context, code string) error {
	if code == "bad" {
		return errors.New("CompileError: bad")
	}
	r.code = append(r.code, code)
	return nil
}

func (r *runner) ImportModule(_ context.Context, path string) error {
	r.code = append(r.code, "import "+path)
	return nil
}

func testAPI() (*API, *runner) {
	run := &runner{}
	fns := names{
		"add":    func(a, b float64) float64 { return a + b },
		"i8":     func(a int8) int8 { return a },
		"u":      func(a uint) uint { return a },
		"c":      func(a complex128) complex128 { return a },
		"s":      func(s string) string { return s },
		"none":   func() {},
		"two":    func() (int, string) { return 1, "a" },
		"div":    func(a, b int) (int, error) { return a / b, nil },
		"fail":   func() (int, error) { return 0, errors.New("boom") },
		"join":   func(sep string, xs ...string) string { return strings.Join(xs, sep) },
		"panics": func() int { panic("oops") },
		"newvec": func(n int) vec {
			v := make(vec, n)
			for i := range v {
				v[i] = 1
			}
			return v
		},
		"typeof": func(x any) string { return fmt.Sprintf("%T", x) },
		"idof":   func(x ObjectID) ObjectID { return x },
		"ptr":    func(p *int) bool { return p == nil },
		"nilfn":  (func())(nil),
		"notfn":  3,
	}
	return NewAPI(New(), fns, run, func() string { return "rank 0 host x" }), run
}

func TestAPICalls(t *testing.T) {
	a, run := testAPI()
	ok := func(got any, err error) any {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := ok(a.FunctionCall("add", 1, 2.5)); got != 3.5 {
		t.Fatalf("add = %v", got)
	}
	if got := ok(a.FunctionCall("add", 3.0, uint8(2))); got != 5.0 {
		t.Fatalf("add = %v", got)
	}
	if got := ok(a.FunctionCall("i8", 3.0)); got != int8(3) {
		t.Fatalf("i8 = %v", got)
	}
	if got := ok(a.FunctionCall("c", 2)); got != complex(2, 0) {
		t.Fatalf("c = %v", got)
	}
	if got := ok(a.FunctionCall("none")); got != nil {
		t.Fatalf("none = %v", got)
	}
	if got := ok(a.FunctionCall("two")); !reflect.DeepEqual(got, []any{1, "a"}) {
		t.Fatalf("two = %v", got)
	}
	if got := ok(a.FunctionCall("div", 7, 2)); got != 3 {
		t.Fatalf("div = %v", got)
	}
	if got := ok(a.FunctionCall("join", "-")); got != "" {
		t.Fatalf("join = %v", got)
	}
	if got := ok(a.FunctionCall("join", "-", "a", "b", "c")); got != "a-b-c" {
		t.Fatalf("join = %v", got)
	}
	if got := ok(a.FunctionCall("ptr", nil)); got != true {
		t.Fatalf("ptr(nil) = %v", got)
	}
	x := ok(a.FunctionCallManage("newvec", 3)).(ObjectID)
	y := ok(a.MethodCallManage(x, "Scaled", 2)).(ObjectID)
	if got := ok(a.MethodCall(x, "Dot", y)); got != 6.0 {
		t.Fatalf("Dot = %v", got)
	}
	if got := ok(a.FunctionCall("typeof", x)); got != "registry.vec" {
		t.Fatalf("ObjectID not mapped: %v", got)
	}
	if got := ok(a.FunctionCall("idof", x)); got != x {
		t.Fatalf("ObjectID parameter mapped: %v", got)
	}
	if got := ok(a.Invoke("typeof", []any{x})); got != "registry.ObjectID" {
		t.Fatalf("Invoke mapped an id: %v", got)
	}
	if got := ok(a.Invoke("MethodCall", []any{x, "Dot", y})); got != 6.0 {
		t.Fatalf("Invoke MethodCall = %v", got)
	}
	if got := ok(a.Invoke("GetObject", []any{2})); !reflect.DeepEqual(got, vec{2, 2, 2}) {
		t.Fatalf("Invoke GetObject(2) = %v", got)
	}
	if _, err := a.Invoke("RunCode", []any{"x := 1"}); err != nil || run.code[0] != "x := 1" {
		t.Fatalf("Invoke RunCode: %v %v", err, run.code)
	}
	if err := a.ImportModule("strings"); err != nil || run.code[1] != "import strings" {
		t.Fatalf("ImportModule: %v %v", err, run.code)
	}
	if got := a.Info(); got != "rank 0 host x; 2 managed objects: ObjectID(1) registry.vec, ObjectID(2) registry.vec" {
		t.Fatalf("Info = %q", got)
	}
	syms := a.Symbols()
	for _, n := range []string{"ObjectID", "ManageObject", "GetObject", "RemoveObject", "FunctionCall", "FunctionCallManage",
		"MethodCall", "MethodCallManage", "RunCode", "ImportModule"} {
		if _, ok := syms[n]; !ok {
			t.Errorf("Symbols lacks %s", n)
		}
	}
	for _, n := range []string{"Invoke", "Symbols", "Bind", "SetInterpreter", "Registry"} {
		if _, ok := syms[n]; ok {
			t.Errorf("Symbols has %s", n)
		}
	}
}

func TestAPIErrors(t *testing.T) {
	a, _ := testAPI()
	id := a.ManageObject(vec{1})
	for _, c := range []struct {
		err  func() error
		want string
	}{
		{func() error { _, err := a.FunctionCall("add", 1); return err }, "FunctionCall: add: want 2 arguments, got 1"},
		{func() error { _, err := a.FunctionCall("none", 1); return err }, "FunctionCall: none: want 0 arguments, got 1"},
		{func() error { _, err := a.FunctionCall("join"); return err }, "FunctionCall: join: want at least 1 argument, got 0"},
		{func() error { _, err := a.FunctionCall("add", 1, "x"); return err }, `FunctionCall: add: argument 2: cannot use "x" (string) as float64`},
		{func() error { _, err := a.FunctionCall("i8", 300); return err }, "FunctionCall: i8: argument 1: cannot use 300 (int) as int8"},
		{func() error { _, err := a.FunctionCall("i8", 2.5); return err }, "FunctionCall: i8: argument 1: cannot use 2.5 (float64) as int8"},
		{func() error { _, err := a.FunctionCall("u", -1); return err }, "FunctionCall: u: argument 1: cannot use -1 (int) as uint"},
		{func() error { _, err := a.FunctionCall("s", 65); return err }, "FunctionCall: s: argument 1: cannot use 65 (int) as string"},
		{func() error { _, err := a.FunctionCall("add", nil, 1); return err }, "FunctionCall: add: argument 1: cannot use nil as float64"},
		{func() error { _, err := a.FunctionCall("join", ",", "a", 3); return err }, "FunctionCall: join: argument 3: cannot use 3 (int) as string"},
		{func() error { _, err := a.FunctionCall("fail"); return err }, "FunctionCall: fail: boom"},
		{func() error { _, err := a.FunctionCall("panics"); return err }, "FunctionCall: panics: panic: oops"},
		{func() error { _, err := a.FunctionCall("div", 1, 0); return err }, "FunctionCall: div: panic: runtime error: integer divide by zero"},
		{func() error { _, err := a.FunctionCall("nope"); return err }, "FunctionCall: nope: no function nope"},
		{func() error { _, err := a.FunctionCall("notfn"); return err }, "FunctionCall: notfn: not a function"},
		{func() error { _, err := a.FunctionCall("nilfn"); return err }, "FunctionCall: nilfn: nil function"},
		{func() error { _, err := a.FunctionCall("typeof", ObjectID(9)); return err }, "FunctionCall: typeof: argument 1: registry: unknown ObjectID(9)"},
		{func() error { _, err := a.FunctionCallManage("none"); return err }, "FunctionCallManage: none: no result to manage"},
		{func() error { _, err := a.MethodCall(id, "Nope"); return err }, "MethodCall: ObjectID(1).Nope: registry.vec has no method Nope"},
		{func() error { _, err := a.MethodCall(5, "Dot"); return err }, "MethodCall: ObjectID(5).Dot: registry: unknown ObjectID(5)"},
		{func() error { _, err := a.MethodCall(id, "Dot", "x"); return err }, `MethodCall: ObjectID(1).Dot: argument 1: cannot use "x" (string) as registry.vec`},
		{func() error { return a.RunCode("bad") }, "RunCode: CompileError: bad"},
		{func() error { _, err := a.Invoke("RemoveObject", []any{"x"}); return err }, `RemoveObject: argument 1: cannot use "x" (string) as registry.ObjectID`},
		{func() error { _, err := a.Invoke("RemoveObject", []any{99}); return err }, "RemoveObject: registry: unknown ObjectID(99)"},
		{func() error { _, err := a.Invoke("nope", nil); return err }, "nope: no function nope"},
		{func() error { _, err := a.FunctionCall("div", 1, 2, 3); return err }, "FunctionCall: div: want 2 arguments, got 3"},
		{func() error {
			_, err := NewAPI(New(), nil, nil, nil).FunctionCall("x")
			return err
		}, "FunctionCall: x: no interpreter"},
	} {
		if err := c.err(); err == nil || err.Error() != c.want {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
	// Errors keep their cause.
	_, err := a.FunctionCall("fail")
	if errors.Unwrap(err) == nil || errors.Unwrap(err).Error() != "boom" {
		t.Fatalf("error not wrapped: %v", err)
	}
}

func TestConvertLimits(t *testing.T) {
	for _, c := range []struct {
		v  any
		t  reflect.Type
		ok bool
	}{
		{int64(math.MaxInt64), reflect.TypeFor[float64](), true},
		{uint64(math.MaxUint64), reflect.TypeFor[int64](), false},
		{-1.0, reflect.TypeFor[uint8](), false},
		{255.0, reflect.TypeFor[uint8](), true},
		{1e300, reflect.TypeFor[float32](), false},
		{math.Inf(1), reflect.TypeFor[int](), false},
		{1e19, reflect.TypeFor[int64](), false},
		{complex(1, 1), reflect.TypeFor[float64](), false},
		{complex(2, 0), reflect.TypeFor[int](), true},
		{true, reflect.TypeFor[int](), false},
		{[]int{1}, reflect.TypeFor[[]float64](), false},
		{[]float64{1}, reflect.TypeFor[vec](), true},
		{"x", reflect.TypeFor[any](), true},
	} {
		_, err := convert(c.v, c.t)
		if (err == nil) != c.ok {
			t.Errorf("convert(%#v, %v): %v", c.v, c.t, err)
		}
	}
}

func TestArgsRoundTrip(t *testing.T) {
	args := []any{true, 3, int64(-4), uint8(5), 2.5, float32(1.5), "s", []byte("b"), []float64{1, 2}, []int{3},
		[]string{"a"}, ObjectID(7), map[string]any{"k": 1.0, "l": []any{"x", 2}}, []any{1, "a"}, nil, complex(1, 2)}
	b, err := EncodeArgs(args)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeArgs(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, args) {
		t.Fatalf("round trip:\n got %#v\nwant %#v", got, args)
	}
	if got, err := DecodeArgs(must(EncodeArgs(nil))); err != nil || len(got) != 0 {
		t.Fatalf("no args: %v %v", got, err)
	}
	type local struct{ X int }
	_, err = EncodeArgs([]any{1, &local{1}})
	if err == nil || !strings.Contains(err.Error(), "argument 2 (*registry.local) cannot be sent") ||
		!strings.Contains(err.Error(), "ObjectID") {
		t.Fatalf("unsupported type: %v", err)
	}
	if _, err := EncodeArgs([]any{func() {}}); err == nil {
		t.Fatal("a function was encoded")
	}
	if _, err := DecodeArgs([]byte("junk")); err == nil || !strings.HasPrefix(err.Error(), "registry: decoding arguments") {
		t.Fatalf("junk: %v", err)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestRegistryConcurrent(t *testing.T) {
	r := New()
	done := make(chan ObjectID)
	for i := 0; i < 8; i++ {
		go func() {
			var last ObjectID
			for j := 0; j < 100; j++ {
				last = r.Manage(j)
				_, _ = r.Get(last)
			}
			done <- last
		}()
	}
	for i := 0; i < 8; i++ {
		<-done
	}
	if r.Len() != 800 {
		t.Fatalf("Len = %d", r.Len())
	}
}
