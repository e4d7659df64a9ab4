package session

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"
)

// errorTypes declares a cell error type, a Stringer and a struct without
// methods, used by the panic tests.
const errorTypes = `type E struct{ code int }
func (e E) Error() string { return fmt.Sprint("custom E ", e.code) }
type PE struct{}
func (*PE) Error() string { return "pointer error" }
type S struct{ n int }
func (s S) String() string { return fmt.Sprint("S#", s.n) }
type Part struct { lo int; data []float64 }
type T struct{ x int }`

// TestPanicValues checks that a panic reads as Go prints it after "panic: "
// (the value yaegi panics with is a reflect.Value), and runtime errors in
// Go's words, not the reflect package's.
func TestPanicValues(t *testing.T) {
	ts := newTestSession(t, Options{})
	ts.run(t, errorTypes)
	cases := []struct{ code, want string }{
		{`panic("boom")`, "boom"},
		{`panic(fmt.Errorf("wrapped %d", 3))`, "wrapped 3"},
		{`panic(errors.New("plain"))`, "plain"},
		{`panic(42)`, "42"},
		{`panic(E{7})`, "custom E 7"},
		{"var err error = E{8}\npanic(err)", "custom E 8"},
		{`panic(&PE{})`, "pointer error"},
		{`panic(S{4})`, "S#4"},
		{`panic(time.Second)`, "1s"},
		{`panic(Part{lo: 1})`, "(Part) {1 []}"},
		{"var p *T\np.x = 1", "runtime error: invalid memory address or nil pointer dereference"},
		{"var p *T\n_ = p.x", "runtime error: invalid memory address or nil pointer dereference"},
		{"s := []int{1}\ni := 5\n_ = s[i]", "runtime error: index out of range"},
		{"a := 0\n_ = 1 / a", "runtime error: integer divide by zero"},
		{"var ifc any = 3\n_ = ifc.(string)", "interface conversion: interface {} is int, not string"},
		{"func g() { defer func() { panic(recover()) }(); panic(E{9}) }\ng()", "custom E 9"},
	}
	for _, tc := range cases {
		res := ts.try(tc.code)
		if res.Err == nil || res.Err.Name != ErrPanic {
			t.Errorf("%q: err = %+v, want a panic", tc.code, res.Err)
			continue
		}
		if res.Err.Value != tc.want {
			t.Errorf("%q: value = %q, want %q", tc.code, res.Err.Value, tc.want)
		}
		if tb := strings.Join(res.Err.Traceback, "\n"); strings.Count(tb, tc.want) != 1 || strings.Contains(tb, " Value>") {
			t.Errorf("%q: traceback should hold the message once:\n%s", tc.code, tb)
		}
	}
}

// TestGoroutinePanicText checks the goroutine path: the value as Go prints
// it, "[recovered]", also for a cell error type while a later cell runs.
func TestGoroutinePanicText(t *testing.T) {
	ts := newTestSession(t, Options{})
	ts.run(t, errorTypes)
	ts.run(t, "go func() { panic(fmt.Errorf(\"in goroutine %d\", 1)) }()\ntime.Sleep(50 * time.Millisecond)")
	if got := ts.err.String(); !strings.Contains(got, "panic: in goroutine 1 [recovered]") {
		t.Errorf("stderr = %q", got)
	}
	ts.err.Reset()
	// The goroutine panics while this very cell runs: nothing may be
	// compiled then; the helper made when E was declared serves.
	ts.run(t, "done := make(chan bool)\ngo func() { defer close(done); panic(E{5}) }()\n<-done\ntime.Sleep(50 * time.Millisecond)")
	if got := ts.err.String(); !strings.Contains(got, "panic: custom E 5 [recovered]") {
		t.Errorf("stderr = %q", got)
	}
	ts.err.Reset()
	ts.run(t, "go func() { var q *T; q.x = 2 }()\ntime.Sleep(50 * time.Millisecond)")
	if got := ts.err.String(); !strings.Contains(got, "panic: runtime error: invalid memory address or nil pointer dereference [recovered]") {
		t.Errorf("stderr = %q", got)
	}
}

// TestGoroutinePanicAfterCell checks a goroutine that panics when no cell
// runs: methods may then be looked up by compiling.
func TestGoroutinePanicAfterCell(t *testing.T) {
	ts := newTestSession(t, Options{})
	ts.run(t, errorTypes)
	ts.run(t, "type Q struct{ a int }\ngo func() { time.Sleep(50 * time.Millisecond); panic(Q{1}) }()")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(ts.err.String(), "[recovered]") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polls for output that has no event to wait on
	}
	if got := ts.err.String(); !strings.Contains(got, "panic: (Q) {1} [recovered]") {
		t.Errorf("stderr = %q", got)
	}
	// The session is usable afterwards.
	if got := plain(ts.run(t, "E{2}.Error()")); got != `"custom E 2"` {
		t.Errorf("after: %s", got)
	}
}

// TestPanicTextOfCalls checks the registry's path: an interpreted function
// called by reflection (as FunctionCall does) panics with a cell error.
func TestPanicTextOfCalls(t *testing.T) {
	ts := newTestSession(t, Options{})
	ts.run(t, errorTypes+"\nfunc fails() { panic(E{3}) }\nfunc failsErr() { panic(fmt.Errorf(\"bad call\")) }")
	for name, want := range map[string]string{"fails": "custom E 3", "failsErr": "bad call"} {
		f, err := ts.Func(name)
		if err != nil {
			t.Fatal(err)
		}
		got := func() (text string) {
			defer func() { text = ts.PanicText(recover()) }()
			f.Call(nil)
			return "no panic"
		}()
		if got != want {
			t.Errorf("PanicText after %s() = %q, want %q", name, got, want)
		}
	}
}

// TestErrorBlock checks what a frontend prints for one rank: a red name
// line, the frames in the cell's lines (innermost first, no yaegi
// "panic: main(...)"), the message once, last.
func TestErrorBlock(t *testing.T) {
	ts := newTestSession(t, Options{})
	res := ts.try("func h() {\n\tpanic(\"deep\")\n}\nfunc k() { h() }\n\nk()")
	if res.Err == nil {
		t.Fatal("no error")
	}
	want := []string{Red + "Panic" + Reset, "    line 2, column 2, in h", "    line 4, column 12, in k", "    line 6, column 1", "Panic: deep"}
	if !reflect.DeepEqual(res.Err.Traceback, want) {
		t.Errorf("traceback = %q, want %q", res.Err.Traceback, want)
	}
	res = ts.try("\n\nfmt.Println(undefinedName)")
	want = []string{Red + "CompileError" + Reset, "    line 3, column 13", "CompileError: undefined: undefinedName"}
	if res.Err == nil || res.Err.Value != "3:13: undefined: undefinedName" || !reflect.DeepEqual(res.Err.Traceback, want) {
		t.Errorf("compile error = %+v, want traceback %q", res.Err, want)
	}
	res = ts.try("x := (1 +\n)\ny := ]")
	want = []string{Red + "CompileError" + Reset, "    line 2, column 1: expected operand, found ')'",
		"    line 3, column 8: expected ')', found 'EOF'", "CompileError: 2 errors"}
	if res.Err == nil || !reflect.DeepEqual(res.Err.Traceback, want) {
		t.Errorf("syntax errors = %+v, want traceback %q", res.Err, want)
	}
	if got := res.Err.Plain()[0]; got != "CompileError" {
		t.Errorf("Plain()[0] = %q", got)
	}
}

// TestErrorBlockCells checks frames in a function an earlier labelled cell
// declared: they name that cell.
func TestErrorBlockCells(t *testing.T) {
	ts := newTestSession(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if res := ts.ExecuteCell(ctx, "cell 4", "func h(m map[int]int) {\n\tm[1] = 2\n}"); res.Err != nil {
		t.Fatal(res.Err)
	}
	res := ts.ExecuteCell(ctx, "cell 5", "var m map[int]int\nh(m)")
	if res.Err == nil {
		t.Fatal("no error")
	}
	got := Fold("cell 5", []Group{{Err: res.Err}}, nil).Traceback
	want := []string{Red + "Panic" + Reset, "    cell 4, line 2, column 2, in h", "    cell 5, line 2, column 1", "Panic: assignment to entry in nil map"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("traceback = %q, want %q", got, want)
	}
}

// TestErrorBlockScript checks a script as modes/script.go runs it: the
// file's declarations labelled with its name, then its renamed main called
// by a cell of the kernel's own, whose top level is not shown.
func TestErrorBlockScript(t *testing.T) {
	ts := newTestSession(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	src := "package main\n\nfunc work() {\n\tpanic(\"broke\")\n}\n\nfunc __gompiScriptMain() {\n\twork()\n}\n"
	if res := ts.ExecuteCell(ctx, "s.go", src); res.Err != nil {
		t.Fatal(res.Err)
	}
	res := ts.Execute(ctx, "__gompiScriptMain()")
	want := []string{Red + "Panic" + Reset, "    s.go, line 4, column 2, in work", "    s.go, line 8, column 2, in main", "Panic: broke"}
	if res.Err == nil || !reflect.DeepEqual(res.Err.Plain()[1:], want[1:]) || res.Err.Traceback[0] != want[0] {
		t.Errorf("traceback = %q, want %q", res.Err.Traceback, want)
	}
}

// TestFold checks the one block for several ranks: the ranks on the red
// name line, each group's message once, interrupts named once.
func TestFold(t *testing.T) {
	boom := newError(ErrPanic, "boom", []Frame{{Line: 1, Col: 1}})
	undef := newError(ErrCompile, "2:3: undefined: x", nil)
	e := Fold("cell 6", []Group{{Ranks: "ranks 0-3", Err: boom}}, nil)
	want := []string{Red + "Panic" + Reset + " on ranks 0-3", "    cell 6, line 1, column 1", "Panic: boom"}
	if e.Name != ErrPanic || e.Value != "ranks 0-3: boom" || !reflect.DeepEqual(e.Traceback, want) {
		t.Errorf("one group: %+v, want traceback %q", e, want)
	}
	e = Fold("cell 6", []Group{{Ranks: "rank 2", Err: boom}, {Ranks: "rank 1", Err: undef}},
		[]string{"ranks 0,3 still running 2s after the failure; interrupted"})
	want = []string{
		Red + "Panic" + Reset + " on rank 2, " + Red + "CompileError" + Reset + " on rank 1",
		"rank 2:", "        cell 6, line 1, column 1", "    Panic: boom",
		"rank 1:", "        cell 6, line 2, column 3", "    CompileError: undefined: x",
		"ranks 0,3 still running 2s after the failure; interrupted",
	}
	if e.Name != ErrPanic || !reflect.DeepEqual(e.Traceback, want) {
		t.Errorf("two groups: traceback\n%q\nwant\n%q", e.Traceback, want)
	}
	if !strings.Contains(e.Value, "rank 2: boom") || !strings.Contains(e.Value, "rank 1: 2:3: undefined: x") {
		t.Errorf("value = %q", e.Value)
	}
	// Two ranks panicked with different messages: one heading for both.
	other := newError(ErrPanic, "bang", []Frame{{Line: 1, Col: 1}})
	e = Fold("cell 6", []Group{{Ranks: "rank 60", NameRanks: "ranks 60-61", Err: boom}, {Ranks: "rank 61", NameRanks: "ranks 60-61", Err: other}}, nil)
	if e.Traceback[0] != Red+"Panic"+Reset+" on ranks 60-61" || e.Traceback[1] != "rank 60:" || e.Value != "rank 60: boom; rank 61: bang" {
		t.Errorf("two messages of one kind: traceback %q, value %q", e.Traceback, e.Value)
	}
	stop := newError(ErrInterrupted, "interrupted", nil)
	e = Fold("cell 7", []Group{{Ranks: "ranks 0-3", Err: stop}}, nil)
	if tb := strings.Join(e.Traceback, "\n"); tb != Red+"Interrupted"+Reset+" on ranks 0-3" {
		t.Errorf("interrupt traceback = %q", tb)
	}
}

// TestInterruptSaysItOnce checks a cancelled cell's error.
func TestInterruptSaysItOnce(t *testing.T) {
	ts := newTestSession(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	res := ts.Execute(ctx, "for {}")
	if res.Err == nil || res.Err.Name != ErrInterrupted || res.Err.Value != "interrupted: context deadline exceeded" {
		t.Fatalf("err = %+v", res.Err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	res = ts.Execute(ctx, "for {}")
	if res.Err == nil || res.Err.Value != "interrupted" || len(res.Err.Traceback) != 1 {
		t.Fatalf("err = %+v", res.Err)
	}
}

// TestInspectInsideCall checks Shift+Tab after `strings.Fields(`: the
// cursor after the parenthesis inspects the call's function, signature
// first.
func TestInspectInsideCall(t *testing.T) {
	ts := newTestSession(t, Options{})
	ts.run(t, "// twice doubles.\nfunc twice(x int) int { return 2 * x }")
	cases := []struct {
		code   string
		cursor int
		first  string
	}{
		{"strings.Fields(", 15, "func Fields(s string) []string"},
		{"x := strings.Fields(\"a b\", ", -1, "func Fields(s string) []string"},
		{"strings.Fields(strings.ToUpper(", -1, "func ToUpper(s string) string"},
		{"strings.Fields(strings.ToUpper(\"a\"), ", -1, "func Fields(s string) []string"},
		{"fmt.Println(\"(\", ", -1, "func Println(a ...any) (n int, err error)"},
		{"twice(", -1, "func twice(int) int"},
		{"y := twice((1 + 2) * ", -1, "func twice(int) int"},
		{"// half halves.\nfunc half(x int) int { return x / 2 }\nhalf(", -1, "func half(x int) int\n    half halves."},
	}
	for _, tc := range cases {
		text := inspectText(t, ts, tc.code, tc.cursor, 0)
		if !strings.HasPrefix(text, tc.first) {
			t.Errorf("Inspect(%q) = %q, want it to start with %q", tc.code, text, tc.first)
		}
	}
	if _, ok := ts.Inspect("func f() { ", 11, 0); ok {
		t.Errorf("inside a block, not a call: found something")
	}
}

// TestTypeNames checks that a type declared in a cell is named wherever
// the session prints a type.
func TestTypeNames(t *testing.T) {
	ts := newTestSession(t, Options{})
	ts.run(t, "type Part struct { lo int; data []float64 }\npp := &Part{}\nvar q []*Part\nfunc mk(n int) map[string]*Part { return nil }")
	v, err := ts.lookupEval("pp")
	if err != nil {
		t.Fatal(err)
	}
	if got := ts.TypeName(v.Interface()); got != "*Part" {
		t.Errorf("TypeName = %q, want *Part", got)
	}
	who := map[string]string{}
	for _, b := range ts.Who() {
		who[b.Name] = b.Type
	}
	if who["pp"] != "*Part" || who["q"] != "[]*Part" || who["mk"] != "func(int) map[string]*Part" {
		t.Errorf("Who = %v", who)
	}
	if got := inspectText(t, ts, "pp", 1, 0); !strings.HasPrefix(got, "pp *Part = ") {
		t.Errorf("Inspect(pp) = %q", got)
	}
	if got := plain(ts.run(t, `fmt.Sprintf("%T", q)`)); got != `"[]*Part"` {
		t.Errorf("%%T result = %s", got)
	}
	if res := ts.try("var x int = pp"); res.Err == nil || !strings.Contains(res.Err.Value, "*Part as type int") {
		t.Errorf("compile error = %+v", res.Err)
	}
	if res := ts.try("panic(*pp)"); res.Err == nil || res.Err.Value != "(Part) {0 []}" {
		t.Errorf("panic = %+v", res.Err)
	}
	if res := ts.try("var ifc any\nifc = *pp\n_ = ifc.(string)"); res.Err == nil || !strings.Contains(res.Err.Value, "is Part, not string") {
		t.Errorf("interface conversion = %+v", res.Err)
	}
}
