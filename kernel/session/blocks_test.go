package session

import (
	"strings"
	"testing"
)

// TestMultiValueDefinitionInBlock: yaegi's REPL scope loses `a, b := f()`
// inside a block ("undefined: a"); statementPieces moves such statements
// into a hidden function.
func TestMultiValueDefinitionInBlock(t *testing.T) {
	ts := newTestSession(t, Options{})
	ts.run(t, "type S struct{ N int }\nfunc two() (S, error) { return S{3}, nil }")
	ts.run(t, "k := 10\nif true {\n\tst, err := two()\n\tk += st.N\n\tfmt.Println(st.N, err)\n}\nswitch k {\ncase 13:\n\tm := map[string]int{\"a\": 1}\n\tv, ok := m[\"a\"]\n\tfmt.Println(\"case\", v, ok)\n}\nfor i, v := range []int{7} { fmt.Println(i, v) }")
	if got, want := ts.out.String(), "3 <nil>\ncase 1 true\n0 7\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	if got := plain(ts.run(t, "k")); got != "13" {
		t.Errorf("k = %q: the block did not update the global", got)
	}
	res := ts.try("if true {\n\tst, err := two()\n\tfmt.Println(st, err, nosuch)\n}")
	if res.Err == nil || !strings.Contains(res.Err.Value, "3:23: undefined: nosuch") {
		t.Errorf("error position not in the cell: %+v", res.Err)
	}
}

// TestFuncLitRunsOnce: yaegi runs a top-level `func(){…}()` again on every
// later Eval; the session calls literals through a name instead.
func TestFuncLitRunsOnce(t *testing.T) {
	ts := newTestSession(t, Options{})
	ts.run(t, `func() { fmt.Println("stmt") }()
x := 1`)
	if got := plain(ts.run(t, `func() int { fmt.Println("final"); return 9 }()`)); got != "9" {
		t.Errorf("final literal call shows %q, want 9", got)
	}
	ts.run(t, "y := 2")
	ts.run(t, "fmt.Println(x + y)")
	if got, want := ts.out.String(), "stmt\nfinal\n3\n"; got != want {
		t.Errorf("output %q, want %q (a literal ran twice?)", got, want)
	}
}

// TestUndefinedNameInFinalExpression: yaegi says "constant definition
// loop"; the user is told what Go would say.
func TestUndefinedNameInFinalExpression(t *testing.T) {
	ts := newTestSession(t, Options{})
	ts.run(t, "x := 1")
	res := ts.try("x + undefinedName")
	if res.Err == nil || res.Err.Value != "1:5: undefined: undefinedName" {
		t.Errorf("error %+v, want 1:5: undefined: undefinedName", res.Err)
	}
	res = ts.try("\nnosuch")
	if res.Err == nil || res.Err.Value != "2:1: undefined: nosuch" {
		t.Errorf("error %+v", res.Err)
	}
}
