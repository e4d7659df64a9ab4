package session

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gompi-kernel/gompi-kernel/kernel/symbols"
)

// cellTypes declares a cell type with methods on T and *T, documented.
const cellTypes = "type V struct{ Alpha int; b string }\nfunc (V) Beta() {}\nfunc (*V) Gamma(x int) string { return \"\" }\n" +
	"v := V{}\np := &V{}\n// f adds nothing.\nfunc f(a int) (int, error) { return a, nil }\nvar sb strings.Builder"

func inspectText(t *testing.T, ts *testSession, code string, cursor, detail int) string {
	t.Helper()
	if cursor < 0 {
		cursor = len([]rune(code))
	}
	d, ok := ts.Inspect(code, cursor, detail)
	if !ok {
		t.Fatalf("Inspect(%q, %d) found nothing", code, cursor)
	}
	return d["text/plain"].(string)
}

func TestInspectDoc(t *testing.T) {
	if _, err := os.Stat(filepath.Join(newDocIndex(nil).stdSrc(), "strings")); err != nil {
		t.Fatalf("no Go sources at GOROOT (the Go toolchain ships them): %v", err)
	}
	ts := newTestSession(t, Options{Exports: symbols.Exports()})
	ts.run(t, cellTypes)
	cases := []struct {
		code   string
		cursor int
		detail int
		want   []string
	}{
		{"strings.ToUpper", -1, 0, []string{"func ToUpper(s string) string", "ToUpper returns s with all Unicode letters mapped to their upper case"}},
		{"strings.ToUpper(\"é\")", 10, 1, []string{"func ToUpper(s string) string {", "isASCII"}},
		{"math.Pi", 6, 0, []string{"const Pi = 3.14159", "Mathematical constants"}},
		{"fmt.Stringer", 5, 0, []string{"type Stringer interface {", "Stringer is implemented by any value"}},
		{"strings", 3, 0, []string{`package strings // import "strings"`, "Package strings implements simple functions"}},
		{"len", 1, 0, []string{"func len(v Type) int", "The len built-in function"}},
		{"sb.WriteString", -1, 0, []string{"func (b *Builder) WriteString(s string) (int, error)", "WriteString appends"}},
		{"mat.NewDense", -1, 0, []string{"func NewDense(r, c int, data []float64) *Dense", "NewDense creates a new Dense matrix"}},
		{"m := mat.NewDense(2, 2, nil)\nm.Scale", -1, 0, []string{"func (m *Dense) Scale(f float64, a Matrix)", "Scale multiplies"}},
		{"// g doubles.\n// Twice.\nfunc g(x int) int { return 2 * x }\ny := g(1)", 65, 0, []string{"func g(x int) int", "g doubles.\n    Twice."}},
		{"// W is a cell type.\ntype W struct{ A int }\n// Get gets.\nfunc (w *W) Get() int { return w.A }\nw := W{}\nw.Get()", 106, 0, []string{"func (w *W) Get() int", "Get gets."}},
		{"f", 1, 0, []string{"func f(int) (int,error)", "earlier cell"}},
		{"V", 1, 0, []string{"type V struct {", "Alpha int", "func (V) Beta()", "func (V) Gamma(int) string"}},
		{"v.Beta", -1, 0, []string{"func (V) Beta()"}},
		{"p.Gamma", -1, 0, []string{"func (V) Gamma(int) string"}},
		{"v", 1, 0, []string{"v V = "}},
	}
	for _, tc := range cases {
		text := inspectText(t, ts, tc.code, tc.cursor, tc.detail)
		for _, w := range tc.want {
			if !strings.Contains(text, w) {
				t.Errorf("Inspect(%q, %d, %d) = %q, lacks %q", tc.code, tc.cursor, tc.detail, text, w)
			}
		}
	}
}

func TestInspectNoSources(t *testing.T) {
	ts := newTestSession(t, Options{})
	t.Setenv("GOROOT", t.TempDir())
	text := inspectText(t, ts, "strings.ToUpper", -1, 0)
	if !strings.Contains(text, "func strings.ToUpper(string) string") || !strings.Contains(text, "doc: Go sources not found at ") {
		t.Errorf("got %q", text)
	}
}

func TestGompiDocs(t *testing.T) {
	// As the engine binds them (engine/rank.go).
	x := newDocIndex(map[string]DocSource{
		"gompi/mpi":     {Dirs: []string{"mpi", "registry", "engine"}, Recvs: []string{"World", "API", "Driver"}},
		"gompi/display": {Dirs: []string{"kernel/display"}, Recvs: []string{"Display"}},
	})
	if x.modRoot == "" {
		t.Fatal("module sources not next to the build path")
	}
	d, _ := x.lookup("gompi/mpi", "World", "Allreduce")
	if d == nil || !strings.Contains(d.sig, "Allreduce(") || d.doc == "" {
		t.Errorf("mpi.Allreduce: %+v", d)
	}
	d, _ = x.lookup("gompi/display", "Display", "HTML")
	if d == nil || !strings.Contains(d.sig, "HTML(") {
		t.Errorf("display.HTML: %+v", d)
	}
}

func TestCompleteCellTypes(t *testing.T) {
	ts := newTestSession(t, Options{Exports: symbols.Exports()})
	ts.run(t, cellTypes)
	cases := []struct {
		code    string
		want    []string
		notWant []string
	}{
		{"v.", []string{"Alpha", "Beta", "Gamma", "b"}, []string{"Xb"}},
		{"p.G", []string{"Gamma"}, []string{"Alpha"}},
		{"type U struct{ Alpha int }\nfunc (U) Beta() {}\nu := U{}\nu.", []string{"Alpha", "Beta"}, nil},
		{"x := &V{}\nx.", []string{"Alpha", "Beta", "Gamma"}, nil},
		{"func (w V) M() { w.", []string{"Alpha", "Beta", "M"}, nil},
		{"b := strings.Builder{}\nb.", []string{"WriteString", "Len"}, nil},
		{"var d mat.Dense\nd.", []string{"Scale", "At"}, nil},
		{"m := mat.NewDense(2, 2, nil)\nm.", []string{"Scale", "RawMatrix"}, nil},
		{"func h() V { return V{} }\nq := h()\nq.", []string{"Alpha", "Gamma"}, nil},
		{"mat.NewD", []string{"NewDense"}, []string{"Dense"}},
		{"func k(longParam int) {\n\tlocalVar := 1\n\tlo", []string{"localVar", "longParam"}, nil},
		{"fmt.Println(1)\nPri", nil, []string{"Println"}},
	}
	for _, tc := range cases {
		c := ts.Complete(tc.code, len([]rune(tc.code)))
		for _, w := range tc.want {
			if !slices.Contains(c.Matches, w) {
				t.Errorf("Complete(%q) = %v, lacks %q", tc.code, c.Matches, w)
			}
		}
		for _, w := range tc.notWant {
			if slices.Contains(c.Matches, w) {
				t.Errorf("Complete(%q) = %v, has %q", tc.code, c.Matches, w)
			}
		}
	}
	// Unicode: positions are code points.
	code := "// π ≈ 3.14, 世界\nvé := V{}\nvé.Ga"
	c := ts.Complete(code, len([]rune(code)))
	if !slices.Equal(c.Matches, []string{"Gamma"}) || c.Start != len([]rune(code))-2 || c.End != len([]rune(code)) {
		t.Errorf("Complete(%q) = %+v", code, c)
	}
}

// benchSession is a warm session with gonum and cell types.
func benchSession(b *testing.B) *Session {
	s, err := New(Options{Exports: symbols.Exports()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	if r := s.Execute(b.Context(), cellTypes); r.Err != nil {
		b.Fatal(r.Err.Value)
	}
	return s
}

func BenchmarkComplete(b *testing.B) {
	s := benchSession(b)
	for _, code := range []string{"strings.ToUpp", "v.", "m := mat.NewDense(2, 2, nil)\nm.", "str"} {
		b.Run(code[len(code)-2:], func(b *testing.B) {
			for b.Loop() {
				s.Complete(code, len([]rune(code)))
			}
		})
	}
}

func BenchmarkInspect(b *testing.B) {
	s := benchSession(b)
	for _, code := range []string{"strings.ToUpper", "http.Get", "mat.NewDense", "sb.WriteString", "V"} {
		b.Run(code, func(b *testing.B) {
			for b.Loop() {
				if _, ok := s.Inspect(code, len([]rune(code)), 0); !ok {
					b.Fatal("not found")
				}
			}
		})
	}
}

// BenchmarkExecute is the interpreter's share of a trivial cell on every
// rank (bench/cellcpu.py measures the whole kernel's).
func BenchmarkExecute(b *testing.B) {
	s := benchSession(b)
	if r := s.Execute(b.Context(), "x := 0"); r.Err != nil {
		b.Fatal(r.Err.Value)
	}
	for _, code := range []string{"x := 1", "x = 1", "fmt.Sprint(x)"} {
		b.Run(code, func(b *testing.B) {
			for b.Loop() {
				if r := s.Execute(b.Context(), code); r.Err != nil {
					b.Fatal(r.Err.Value)
				}
			}
		})
	}
}
