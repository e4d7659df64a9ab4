package session

import (
	"encoding/base64"
	"image"
	"strings"
	"sync"
	"testing"

	"github.com/traefik/yaegi/interp"

	"github.com/gompi-kernel/gompi-kernel/kernel/display"
	"github.com/gompi-kernel/gompi-kernel/kernel/symbols"
)

// These tests run cells the way the kernel does: package display bound to a
// Publisher and pre-imported, gonum and gonum/plot from kernel/symbols.

type shown struct {
	data   map[string]any
	id     string
	update bool
	clear  bool
}

type fakePublisher struct {
	mu  sync.Mutex
	got []shown
}

func (p *fakePublisher) Display(data, _ map[string]any, id string, update bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, shown{data: data, id: id, update: update})
}

func (p *fakePublisher) Clear(bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, shown{clear: true})
}

// take returns what was published since the last take.
func (p *fakePublisher) take() []shown {
	p.mu.Lock()
	defer p.mu.Unlock()
	got := p.got
	p.got = nil
	return got
}

func newDisplaySession(t *testing.T) (*testSession, *fakePublisher) {
	t.Helper()
	pub := &fakePublisher{}
	exports := symbols.Exports()
	exports["gompi/display/display"] = display.New(pub).Symbols()
	return newTestSession(t, Options{Exports: exports, PreImport: []string{"gompi/display"}}), pub
}

func pngSize(t *testing.T, v any) (int, int) {
	t.Helper()
	s, _ := v.(string)
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("image/png not base64: %v", err)
	}
	cfg, format, err := image.DecodeConfig(strings.NewReader(string(raw)))
	if err != nil || format != "png" {
		t.Fatalf("image/png does not decode: %v (%s)", err, format)
	}
	return cfg.Width, cfg.Height
}

func TestDisplayPackageInCells(t *testing.T) {
	ts, pub := newDisplaySession(t)

	// A display call as the last line shows its output and no result.
	res := ts.run(t, `display.HTML("<b>hi</b>")`)
	got := pub.take()
	if res.Data != nil || len(got) != 1 || got[0].data["text/html"] != "<b>hi</b>" {
		t.Fatalf("display.HTML: result %v, published %+v", res.Data, got)
	}

	ts.run(t, `display.Markdown("*md*"); display.LaTeX("$x$"); display.JSON(map[string]int{"n": 3})`)
	got = pub.take()
	if len(got) != 3 || got[0].data["text/markdown"] != "*md*" || got[1].data["text/latex"] != "$x$" {
		t.Fatalf("Markdown, LaTeX: %+v", got)
	}
	if doc, _ := got[2].data["application/json"].(map[string]any); doc["n"] != 3.0 {
		t.Errorf("JSON: %+v", got[2].data)
	}

	// image.Image from the image package of the standard library.
	ts.run(t, `img := image.NewGray(image.Rect(0, 0, 5, 4))
display.Image(img)`)
	got = pub.take()
	if len(got) != 1 {
		t.Fatalf("display.Image published %d", len(got))
	}
	if w, h := pngSize(t, got[0].data["image/png"]); w != 5 || h != 4 {
		t.Errorf("display.Image size %d×%d", w, h)
	}

	// A progress bar redrawn in place: display, then updates, same id.
	ts.run(t, `bar := display.NewID()
for i := 0; i <= 2; i++ {
	display.Update(bar, map[string]any{"text/html": fmt.Sprintf("<progress value=%d max=2></progress>", i)})
}
display.Clear(true)`)
	got = pub.take()
	if len(got) != 4 || !got[3].clear {
		t.Fatalf("progress bar: %+v", got)
	}
	id := got[0].id
	if id == "" || got[0].update || !got[1].update || !got[2].update || got[1].id != id || got[2].id != id {
		t.Errorf("display ids: first must display, the rest update the same id: %+v", got)
	}
	if got[2].data["text/html"] != "<progress value=2 max=2></progress>" {
		t.Errorf("last update: %v", got[2].data)
	}

	// display.Value shows a value as the cell result would.
	ts.run(t, `display.Value("text")`)
	if got := pub.take(); len(got) != 1 || got[0].data["text/plain"] != `"text"` {
		t.Errorf("display.Value: %+v", got)
	}
}

func TestDisplayReceivers(t *testing.T) {
	ts, _ := newDisplaySession(t)
	ts.run(t, `type Ptr struct{ N int }
func (p *Ptr) HTML() string { return fmt.Sprintf("<i>%d</i>", p.N) }
type Val struct{ N int }
func (v Val) Markdown() string { return fmt.Sprintf("**%d**", v.N) }`)
	for code, want := range map[string][2]string{
		"Ptr{N: 1}":  {"text/html", "<i>1</i>"},
		"&Ptr{N: 2}": {"text/html", "<i>2</i>"},
		"Val{N: 3}":  {"text/markdown", "**3**"},
		"&Val{N: 4}": {"text/markdown", "**4**"},
	} {
		if res := ts.run(t, code); res.Data[want[0]] != want[1] {
			t.Errorf("%s: %s = %v, want %q (bundle %v)", code, want[0], res.Data[want[0]], want[1], res.Data)
		}
	}
}

func TestGonumInCells(t *testing.T) {
	ts, pub := newDisplaySession(t)
	res := ts.run(t, `import (
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)
x := []float64{1, 2, 3}
fmt.Println(floats.Dot(x, x), stat.Mean(x, nil))
a := mat.NewDense(2, 2, []float64{1, 2, 3, 4})
var b mat.Dense
b.Mul(a, a)
&b`)
	if out := ts.out.String(); out != "14 2\n" {
		t.Errorf("floats/stat output %q", out)
	}
	if want := "*mat.Dense 2×2\n⎡ 7  10⎤\n⎣15  22⎦"; plain(res) != want {
		t.Errorf("mat.Dense result:\n%s\nwant\n%s", plain(res), want)
	}

	// The slice behind a matrix is the matrix: writing it changes the
	// matrix (this is what lets mpi collectives work on it in place).
	res = ts.run(t, `v := mat.NewVecDense(3, nil)
raw := v.RawVector().Data
raw[1] = 5
v.AtVec(1)`)
	if plain(res) != "5" {
		t.Errorf("RawVector().Data is not the vector's storage: %v", res.Data)
	}
	if got := pub.take(); len(got) != 0 {
		t.Errorf("unexpected display: %+v", got)
	}
}

func TestPlotInCells(t *testing.T) {
	ts, pub := newDisplaySession(t)
	ts.run(t, `import (
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)
pts := make(plotter.XYs, 50)
for i := range pts {
	pts[i].X = float64(i) / 10
	pts[i].Y = math.Sin(pts[i].X)
}
p := plot.New()
p.Title.Text = "sine"
line, err := plotter.NewLine(pts)
if err != nil {
	panic(err)
}
p.Add(line)
display.Plot(p, 4*vg.Inch, 3*vg.Inch)`)
	got := pub.take()
	if len(got) != 1 {
		t.Fatalf("display.Plot published %d: %+v", len(got), got)
	}
	if w, h := pngSize(t, got[0].data["image/png"]); w != 384 || h != 288 {
		t.Errorf("display.Plot size %d×%d, want 384×288", w, h)
	}
	// A plot as the cell's result is shown too, at the default 6×4 inches.
	res := ts.run(t, "p")
	if w, h := pngSize(t, res.Data["image/png"]); w != 576 || h != 384 {
		t.Errorf("plot result size %d×%d, want 576×384", w, h)
	}
}

// TestSymbolsExports checks that every generated package can be imported
// by a cell (a broken extraction fails here, not in front of a user).
func TestSymbolsExports(t *testing.T) {
	ts, _ := newDisplaySession(t)
	var imports []string
	for _, p := range symbols.ImportPaths() {
		imports = append(imports, `import "`+p+`"`)
	}
	if len(imports) < 9 {
		t.Fatalf("only %d packages: %v", len(imports), imports)
	}
	// The import alone is an error in yaegi if the package is unknown.
	ts.run(t, strings.Join(imports, "\n"))
	if res := ts.try(`import "gonum.org/v1/gonum/lapack/nope"`); res.Err == nil {
		t.Error("importing a package that is not there succeeded: this test cannot fail")
	}
	var _ interp.Exports = symbols.Exports()
}
