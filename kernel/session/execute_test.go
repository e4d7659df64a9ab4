package session

import (
	"context"
	"encoding/json"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestExecuteCells(t *testing.T) {
	// Each case is a sequence of cells run in one fresh session; the last
	// cell's text/plain ("" = no value shown) and stdout are checked.
	cases := []struct {
		name   string
		cells  []string
		plain  string
		stdout string
	}{
		{"mixed kinds on one line", []string{
			`import "strings"; type P struct{X int}; func f() int {return 1}; x := f(); fmt.Println(x, strings.ToUpper("a"), P{2})`,
		}, "", "1 A {2}\n"},
		{"mixed kinds multi-line with comments", []string{`
// a comment
import (
	"strings" // why not
)

/* block */
type P struct {
	X int
}

x := P{X: 3}

func (p P) Double() int { return 2 * p.X }

y := x.Double() // 6
fmt.Println(strings.Repeat("-", y))
`}, "", "------\n"},
		{"declarations after statements use them", []string{
			"n := 2\nfunc g() int { return n * 10 }\nm := g()\nm",
		}, "20", ""},
		{"auto import", []string{
			`fmt.Println("hi", strings.ToUpper("x"), math.Sqrt(16), rand.Intn(1), time.Duration(0), os.Getenv("NO_SUCH_VAR_GOMPI"))`,
		}, "", "hi X 4 0 0s \n"},
		{"auto import in a function body", []string{
			"func up(s string) string { return strings.ToUpper(s) }",
			`up("go")`,
		}, `"GO"`, ""},
		{"re-import is harmless", []string{
			`import "fmt"`, `import "fmt"; fmt.Print("a")`, `import ("fmt"; "strings"); fmt.Print(strings.ToLower("B"))`,
		}, "", "ab"},
		{"redefine func", []string{
			"func f() int { return 1 }", "func f() int { return 2 }", "f()",
		}, "2", ""},
		{"redefine var by := and var", []string{
			"x := 1", `x := "s"`, "x", "var x = 2", "x + 1",
		}, "3", ""},
		{"redefine type", []string{
			"type P struct{ X int }", `type P struct{ Y string }`, `P{Y: "a"}`,
		}, "{a}", ""},
		{"redefine type with methods", []string{
			"type T int\nfunc (t T) Name() string { return \"one\" }",
			"type T struct{}\nfunc (t T) Name() string { return \"two\" }",
			"T{}.Name()",
		}, `"two"`, ""},
		{"local variable shadows package", []string{
			"strings := []string{\"a\"}", "len(strings)",
		}, "1", ""},
		{"local variable named like a package, in a function of the same cell", []string{
			"type S struct{ N int }\nfunc f() int { sort := S{3}; return sort.N }\nf()",
			"sort := 4", "sort + f()",
		}, "7", ""},
		{"builtin shadowed in the same cell", []string{
			"print := func(s string) int { return 42 }\nprint(\"x\")",
		}, "42", ""},
		{"final expression shown", []string{"1 + 2"}, "3", ""},
		{"string quoted", []string{`"a" + "b"`}, `"ab"`, ""},
		{"single-result call shown", []string{"func f() int { return 7 }\nf()"}, "7", ""},
		{"stdlib single-result call shown", []string{`strings.Repeat("x", 2)`}, `"xx"`, ""},
		{"method call shown", []string{"type T struct{}\nfunc (T) M() float64 { return 1.5 }\nt := T{}\nt.M()"}, "1.5", ""},
		{"conversion shown", []string{"type C int\nC(4)"}, "4", ""},
		{"builtin shown", []string{"len([]int{1, 2})"}, "2", ""},
		{"method of computed receiver shown", []string{"type T struct{ N int }\nfunc (t T) Get() int { return t.N }\nT{N: 5}.Get()"}, "5", ""},
		{"method chain on stdlib shown", []string{`strings.NewReplacer("a", "b").Replace("aa")`}, `"bb"`, ""},
		{"void method of computed receiver not shown", []string{"type T struct{}\nfunc (t *T) Do() { fmt.Print(\"did\") }\n(&T{}).Do()"}, "", "did"},
		{"indexed method shown", []string{"type T struct{ N int }\nfunc (t T) Get() int { return t.N }\nts := []T{{1}, {2}}\nts[1].Get()"}, "2", ""},
		{"func literal call shown", []string{"func() int { return 9 }()"}, "9", ""},
		{"Println not shown", []string{`fmt.Println("x")`}, "", "x\n"},
		{"void call not shown", []string{"func v() {}\nv()"}, "", ""},
		{"multi-result call not shown", []string{"func two() (int, error) { return 1, nil }\ntwo()"}, "", ""},
		{"statement not shown", []string{"x := 5"}, "", ""},
		{"declaration not shown", []string{"func f() {}"}, "", ""},
		{"struct value", []string{"type P struct{ X, Y int }\nP{1, 2}"}, "{1 2}", ""},
		{"slice", []string{"[]string{\"a\", \"b\"}"}, "[a b]", ""},
		{"nil error", []string{"var e error\ne"}, "<nil>", ""},
		{"println builtin", []string{"println(\"p\", 1)"}, "", "p 1\n"},
		{"os.Stdout write", []string{`os.Stdout.Write([]byte("raw\n"))`}, "", "raw\n"},
		{"package clause ignored", []string{"package main\nimport \"fmt\"\nfmt.Print(1)"}, "", "1"},
		{"if statement with header", []string{"x := 3\nif y := x * 2; y > 5 {\n\tfmt.Print(\"big\")\n} else {\n\tfmt.Print(\"small\")\n}"}, "", "big"},
		{"for loop header", []string{"s := 0\nfor i := 0; i < 4; i++ { s += i }\ns"}, "6", ""},
		{"goroutine and channel", []string{"ch := make(chan int)\ngo func() { ch <- 42 }()\n<-ch"}, "42", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestSession(t, Options{})
			var res Result
			for _, c := range tc.cells {
				res = ts.run(t, c)
			}
			if got := plain(res); got != tc.plain {
				t.Errorf("text/plain = %q, want %q (data %v)", got, tc.plain, res.Data)
			}
			if tc.plain == "" && res.Data != nil {
				t.Errorf("data = %v, want none", res.Data)
			}
			if got := ts.out.String(); got != tc.stdout {
				t.Errorf("stdout = %q, want %q", got, tc.stdout)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name, code, ename, evalue string
	}{
		{"syntax error position", "x := 1\ny := (", ErrCompile, "2:"},
		{"compile error position", "x := 1\n\nz := 1 + \"a\"", ErrCompile, "3:"},
		{"compile error in func decl", "a := 1\nfunc f() int {\n\treturn \"s\"\n}", ErrCompile, "3:"},
		{"panic", `panic("boom")`, ErrPanic, "boom"},
		{"nil map write", "var m map[string]int\nm[\"a\"] = 1", ErrPanic, "nil map"},
		{"index out of range", "s := []int{1}\ni := 5\n_ = s[i]", ErrPanic, "index out of range"},
		{"panic in function", "func f() { var m map[int]int; m[1] = 2 }\nf()", ErrPanic, "nil map"},
		{"os.Exit", `fmt.Println("before"); os.Exit(3)`, ErrExit, "exit status 3"},
		{"log.Fatal", `log.Fatal("x")`, ErrExit, "exit status 1"},
		{"log.Fatalf", `log.Fatalf("x %d", 1)`, ErrExit, "exit status 1"},
		{"log.New Fatal", `l := log.New(os.Stderr, "p ", 0); l.Fatal("y")`, ErrExit, "exit status 1"},
		{"log.Default Fatal", `log.Default().Fatalln("z")`, ErrExit, "exit status 1"},
		{"range over int", "for i := range 5 { _ = i }", "", ""},
		{"unknown import", `import "no/such/pkg"`, ErrCompile, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestSession(t, Options{})
			res := ts.try(tc.code)
			if res.Err == nil {
				t.Fatalf("no error, result %v", res.Data)
			}
			if tc.ename != "" && res.Err.Name != tc.ename {
				t.Errorf("name = %q, want %q (value %q)", res.Err.Name, tc.ename, res.Err.Value)
			}
			if !strings.Contains(res.Err.Value, tc.evalue) {
				t.Errorf("value = %q, want it to contain %q", res.Err.Value, tc.evalue)
			}
			if n := len(res.Err.Traceback); n == 0 || !strings.HasPrefix(res.Err.Traceback[n-1], res.Err.Name+": ") {
				t.Errorf("traceback = %q", res.Err.Traceback)
			}
			// The session stays usable.
			if got := plain(ts.run(t, "40 + 2")); got != "42" {
				t.Errorf("after error: %q", got)
			}
			t.Logf("%s: %s | stderr %q | tb %q", res.Err.Name, res.Err.Value, ts.err.String(), res.Err.Traceback)
		})
	}
}

func TestExitDeliversEarlierOutput(t *testing.T) {
	ts := newTestSession(t, Options{})
	res := ts.try("fmt.Println(\"out\")\nfmt.Fprintln(os.Stderr, \"err\")\nlog.SetFlags(0)\nlog.Print(\"logged\")\nos.Exit(2)")
	if res.Err == nil || res.Err.Name != ErrExit || res.Err.Value != "exit status 2" {
		t.Fatalf("err = %+v", res.Err)
	}
	if got := ts.out.String(); got != "out\n" {
		t.Errorf("stdout = %q", got)
	}
	if got := ts.err.String(); got != "err\nlogged\n" {
		t.Errorf("stderr = %q", got)
	}
}

func TestOutputIsLive(t *testing.T) {
	ts := newTestSession(t, Options{})
	ctx := context.Background()
	start := time.Now()
	res := ts.Execute(ctx, `fmt.Println("first"); time.Sleep(300 * time.Millisecond); fmt.Println("second")`)
	returned := time.Now()
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	first, ok1 := ts.out.firstArrival("first")
	second, ok2 := ts.out.firstArrival("second")
	if !ok1 || !ok2 {
		t.Fatalf("output %q", ts.out.String())
	}
	// The first line arrives before the sleep ends, i.e. well before the
	// second line and before Execute returns.
	if d := second.Sub(first); d < 250*time.Millisecond {
		t.Errorf("first chunk arrived only %v before the second: not live", d)
	}
	if first.After(returned) || second.After(returned) {
		t.Errorf("output arrived after Execute returned")
	}
	if returned.Sub(start) < 300*time.Millisecond {
		t.Errorf("Execute returned before the sleep ended")
	}
}

func TestOutputOrderAndCompleteness(t *testing.T) {
	ts := newTestSession(t, Options{})
	// Much more than a pipe buffer, several writers: all of it is delivered
	// before Execute returns, in order per stream.
	ts.run(t, `for i := 0; i < 20000; i++ { fmt.Printf("line %d\n", i) }
os.Stdout.WriteString("tail\n")
print("p\n")`)
	out := ts.out.String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 20002 || lines[19999] != "line 19999" || lines[20000] != "tail" || lines[20001] != "p" {
		t.Fatalf("got %d lines, tail %q", len(lines), lines[len(lines)-3:])
	}
	for i := 0; i < 20000; i++ {
		if want := "line " + itoa(i); lines[i] != want {
			t.Fatalf("line %d = %q", i, lines[i])
		}
	}
	ts.out.Reset()
	ts.run(t, `fmt.Fprint(os.Stderr, "e1"); fmt.Print("o1"); log.SetFlags(0); log.Print("l1")`)
	if ts.out.String() != "o1" || ts.err.String() != "e1l1\n" {
		t.Errorf("stdout %q stderr %q", ts.out.String(), ts.err.String())
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestInterrupt(t *testing.T) {
	for _, code := range []string{
		"for {}",
		"time.Sleep(1 * time.Hour)",
		"x := 0\nfor { x++ }",
		"ch := make(chan int)\n<-ch",
		"func spin() { for {} }\nspin()",
	} {
		t.Run(code, func(t *testing.T) {
			ts := newTestSession(t, Options{})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan Result)
			go func() { done <- ts.Execute(ctx, code) }()
			time.Sleep(200 * time.Millisecond)
			cancel()
			cancelled := time.Now()
			select {
			case res := <-done:
				if d := time.Since(cancelled); d > time.Second {
					t.Errorf("took %v to stop", d)
				}
				if res.Err == nil || res.Err.Name != ErrInterrupted {
					t.Fatalf("err = %+v", res.Err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("not interrupted")
			}
			if got := plain(ts.run(t, "1 + 1")); got != "2" {
				t.Errorf("after interrupt: %q", got)
			}
			// Nothing of the cell is left running (yaegi's EvalWithContext
			// returns at once and would leave a compiled sleep behind).
			time.Sleep(100 * time.Millisecond)
			buf := make([]byte, 1<<20)
			stacks := string(buf[:runtime.Stack(buf, true)])
			for _, leftover := range []string{"time.Sleep", "(*interrupter).sleep"} {
				if strings.Contains(stacks, leftover) {
					t.Errorf("a goroutine is still in %s after the interrupt", leftover)
				}
			}
		})
	}
}

// TestInterruptCompiledBlock: code blocked in a compiled call that ignores
// interrupts cannot be stopped; the cell is reported interrupted after a
// bounded wait, saying so, and the next cell runs.
func TestInterruptCompiledBlock(t *testing.T) {
	ts := newTestSession(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Result)
	go func() { done <- ts.Execute(ctx, "var wg sync.WaitGroup\nwg.Add(1)\nwg.Wait()") }()
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case res := <-done:
		if res.Err == nil || res.Err.Name != ErrInterrupted || !strings.Contains(res.Err.Value, "goes on in the background") {
			t.Fatalf("err = %+v", res.Err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("not interrupted")
	}
	if got := plain(ts.run(t, "2 + 3")); got != "5" {
		t.Errorf("after interrupt: %q", got)
	}
}

// fakeMPI is a compiled package bound to a value, like the kernel's mpi.
type fakeMPI struct{ rank int }

func (f *fakeMPI) Rank() int { return f.rank }

// fakeOptions exports "gompi/fake" (pre-imported) and "gompi/other".
func fakeOptions() Options {
	f := &fakeMPI{rank: 3}
	return Options{
		Rank: 3, Size: 4,
		Exports: map[string]map[string]reflect.Value{
			"gompi/fake/fake": {
				"Rank":  reflect.ValueOf(f.Rank), // a bound method value
				"Greet": reflect.ValueOf(func(s string) string { return "hi " + s }),
			},
			"gompi/other/other": {
				"Answer": reflect.ValueOf(func() int { return 42 }),
			},
		},
		PreImport: []string{"gompi/fake"},
	}
}

func TestExportsAndPreImport(t *testing.T) {
	ts := newTestSession(t, fakeOptions())
	if got := plain(ts.run(t, "fake.Rank()")); got != "3" {
		t.Errorf("fake.Rank() = %q", got)
	}
	if got := plain(ts.run(t, `import "gompi/fake"`+"\n"+`fake.Greet("x")`)); got != `"hi x"` {
		t.Errorf("Greet = %q", got)
	}
	// Not pre-imported: auto-imported like a standard package.
	if got := plain(ts.run(t, "other.Answer()")); got != "42" {
		t.Errorf("other.Answer() = %q", got)
	}
	// After Reset the pre-import is there again and old state is gone.
	ts.run(t, "zz := 1")
	if err := ts.Reset(); err != nil {
		t.Fatal(err)
	}
	if got := plain(ts.run(t, "fake.Rank()")); got != "3" {
		t.Errorf("after Reset fake.Rank() = %q", got)
	}
	if res := ts.try("zz"); res.Err == nil {
		t.Errorf("zz survived Reset")
	}
}

func TestResultIsJSON(t *testing.T) {
	ts := newTestSession(t, Options{})
	for _, code := range []string{"[]int{1}", `panic("x")`, "map[string]int{\"a\": 1}"} {
		res := ts.try(code)
		b, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		var back Result
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, res) {
			t.Errorf("round trip of %s: %#v != %#v", b, back, res)
		}
	}
}

// TestInterruptBeforeSleep: an interrupt that arrives before a cell reaches
// its time.Sleep still ends the sleep (the sleep returns at once); the next
// execution sleeps again.
func TestInterruptBeforeSleep(t *testing.T) {
	i := newInterrupter()
	i.arm()
	i.fire()
	done := make(chan struct{})
	go func() { i.sleep(time.Hour); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a sleep that started after the interrupt waited on")
	}
	i.arm()
	start := time.Now()
	i.sleep(20 * time.Millisecond)
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("after arm, a 20 ms sleep took %v", d)
	}
}
