package gorewrite

import (
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

// TestGo: each form of go statement is rewritten to recover in the new
// goroutine; arguments are evaluated before it starts, constants stay in
// place, and the line count is kept.
func TestGo(t *testing.T) {
	const prefix = "package p\nfunc f() {\n"
	for _, tc := range []struct{ in, want string }{
		{"go func(x int) { work(x) }(v)", "go func(x int) { R; work(x) }(v)"},
		{"go work(a, 2, math.Pi)", "{ __gompiA0 := a; go func() { R; work(__gompiA0, 2, math.Pi) }() }"},
		{"go g()(a)", "{ __gompiF, __gompiA0 := g(), a; go func() { R; __gompiF(__gompiA0) }() }"},
		{"go w.Run(\nx)", "{ __gompiF, __gompiA0 := w.Run, x; go func() { R; __gompiF(__gompiA0) }()\n }"},
		{"go work(xs...)", "{ __gompiA0 := xs; go func() { R; work(__gompiA0...) }() }"},
		{"x := 1", "x := 1"},
	} {
		src := prefix + tc.in + "\n}\n"
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, "", src, 0)
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		tf := fset.File(f.Pos())
		out, changed := Go(src, []Root{{Node: f, Offset: tf.Offset}}, "R", Names{IsPkg: func(n string) bool { return n == "math" }})
		got := strings.TrimSuffix(strings.TrimPrefix(out, prefix), "\n}\n")
		if got != tc.want || changed != (tc.in != tc.want) {
			t.Errorf("%q:\n got %q (changed %v)\nwant %q", tc.in, got, changed, tc.want)
		}
		if strings.Count(out, "\n") != strings.Count(src, "\n") {
			t.Errorf("%q: line count %d, want %d", tc.in, strings.Count(out, "\n"), strings.Count(src, "\n"))
		}
		if _, err := parser.ParseFile(token.NewFileSet(), "", strings.ReplaceAll(out, "R;", "_ = 0;"), 0); err != nil {
			t.Errorf("%q: the rewrite does not parse: %v\n%s", tc.in, err, out)
		}
	}
}
