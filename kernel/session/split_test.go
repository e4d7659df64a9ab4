package session

import (
	"reflect"
	"strings"
	"testing"
)

func TestSplitCell(t *testing.T) {
	type want struct {
		imports []string // paths
		kinds   string   // one letter per chunk: d(ecl) s(tmt) e(xpr)
		texts   []string // chunk texts
		lines   []int    // chunk lines
	}
	cases := []struct {
		name string
		code string
		want want
	}{
		{"one line, every kind", `import "strings"; type P struct{X int}; func f() int {return 1}; x := f(); fmt.Println(x)`,
			want{[]string{"strings"}, "dse", []string{"type P struct{X int}; func f() int {return 1}", "x := f()", "fmt.Println(x)"}, []int{1, 1, 1}}},
		{"imports are hoisted", "x := 1\nimport \"fmt\"\nimport (\n\t\"os\"\n\tstr \"strings\"\n)\nfmt.Print(x)",
			want{[]string{"fmt", "os", "strings"}, "se", []string{"x := 1", "fmt.Print(x)"}, []int{1, 7}}},
		{"comments and blank lines", "// c1\n\n/* c2 */ var a = 1 // c3\n\n// c4\nb := a\n",
			want{nil, "ds", []string{"var a = 1", "b := a"}, []int{3, 6}}},
		{"multi-line function and method", "type T struct{}\n\nfunc (t T) M(\n\tx int,\n) int {\n\treturn x\n}\n\nT{}.M(1)",
			want{nil, "de", []string{"type T struct{}\n\nfunc (t T) M(\n\tx int,\n) int {\n\treturn x\n}", "T{}.M(1)"}, []int{1, 9}}},
		{"function literal statement is not a declaration", "func() { fmt.Print(1) }()\nfunc g() {}",
			want{nil, "sd", []string{"func() { fmt.Print(1) }()", "func g() {}"}, []int{1, 2}}},
		{"for and if headers keep their semicolons", "for i := 0; i < 3; i++ {\n}\nif x := 1; x > 0 {\n}",
			want{nil, "s", []string{"for i := 0; i < 3; i++ {\n}\nif x := 1; x > 0 {\n}"}, []int{1}}},
		{"alternating runs", "a := 1\nvar b = 2\nc := 3\nconst d = 4\nd",
			want{nil, "dsdsde"[1:], []string{"a := 1", "var b = 2", "c := 3", "const d = 4", "d"}, []int{1, 2, 3, 4, 5}}},
		{"package clause dropped", "package main\n\nfunc main() {}\nmain()",
			want{nil, "de", []string{"func main() {}", "main()"}, []int{3, 4}}},
		{"generic function", "func Map[T any](xs []T) []T { return xs }\nMap([]int{1})",
			want{nil, "de", []string{"func Map[T any](xs []T) []T { return xs }", "Map([]int{1})"}, []int{1, 2}}},
		{"only comments", "// nothing\n", want{nil, "", nil, nil}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := splitCell(tc.code)
			if err != nil {
				t.Fatal(err)
			}
			var imports []string
			for _, it := range p.imports {
				imports = append(imports, it.path)
			}
			var kinds strings.Builder
			var texts []string
			var lines []int
			for _, c := range p.chunks {
				kinds.WriteByte("dse"[c.kind])
				texts = append(texts, c.text)
				lines = append(lines, c.line)
			}
			got := want{imports, kinds.String(), texts, lines}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestSplitCellErrors(t *testing.T) {
	cases := []struct{ code, pos string }{
		{"x := 1\ny := )", "2:6:"},
		{"x := 1\nfunc f() {\n\treturn +\n}", "4:1:"},
		{"import \"fmt\nx := 1", "1:8:"},
		{"é := 1; y := ]", "1:15:"},
	}
	for _, tc := range cases {
		_, err := splitCell(tc.code)
		if err == nil || !strings.HasPrefix(err.Error(), tc.pos) {
			t.Errorf("splitCell(%q) error = %v, want position %s", tc.code, err, tc.pos)
		}
	}
}

// TestNeedsResolution: a cell is parsed once, without the parser's
// resolution of identifiers, unless what executes it needs that.
func TestNeedsResolution(t *testing.T) {
	ts := newTestSession(t, Options{})
	ts.run(t, `import "strings"`)
	for _, c := range []struct {
		code string
		want bool
	}{
		{"x := 1", false},
		{"x := 1\nx + 2", false},
		{`strings.Repeat("a", 2)`, false},     // imported already
		{`fmt.Sprint(1)`, true},               // fmt is imported for the cell
		{"func f() { go func() {}() }", true}, // go statements are rewritten
		{"len([]int{})", true},                // a builtin the cell may shadow
		{"y := []int{}\ny[0:0]", false},
	} {
		p, err := splitCellUnresolved(c.code)
		if err != nil {
			t.Fatalf("%q: %v", c.code, err)
		}
		if got := ts.needsResolution(p); got != c.want {
			t.Errorf("needsResolution(%q) = %v, want %v", c.code, got, c.want)
		}
	}
}
