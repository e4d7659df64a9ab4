package display

import (
	"encoding/base64"
	"image"
	"image/color"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// published is one call of the fake Publisher.
type published struct {
	Data, Metadata map[string]any
	ID             string
	Update         bool
	Clear, Wait    bool
}

// recorder is a Publisher that keeps what it was given.
type recorder struct {
	mu  sync.Mutex
	got []published
}

func (r *recorder) Display(data, metadata map[string]any, id string, update bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, published{Data: data, Metadata: metadata, ID: id, Update: update})
}

func (r *recorder) Clear(wait bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, published{Clear: true, Wait: wait})
}

// last returns the only message published since the previous call.
func (r *recorder) last(t *testing.T) published {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) != 1 {
		t.Fatalf("published %d messages, want 1: %+v", len(r.got), r.got)
	}
	p := r.got[0]
	r.got = nil
	return p
}

func decodeBase64(t *testing.T, v any) []byte {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		t.Fatalf("want a base64 string, got %T %v", v, v)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("not base64: %v", err)
	}
	return b
}

func testImage() image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 3, 2))
	img.Set(1, 1, color.RGBA{R: 255, A: 255})
	return img
}

func TestTextTypes(t *testing.T) {
	r := &recorder{}
	d := New(r)
	for _, c := range []struct {
		call func()
		mime string
		want any
	}{
		{func() { d.HTML("<b>hi</b>") }, "text/html", "<b>hi</b>"},
		{func() { d.Markdown("# T") }, "text/markdown", "# T"},
		{func() { d.LaTeX(`$x^2$`) }, "text/latex", `$x^2$`},
		{func() { d.SVG("<svg/>") }, "image/svg+xml", "<svg/>"},
		{func() { d.Text("plain") }, "text/plain", "plain"},
		{func() { d.JSON(map[string]int{"a": 1}) }, "application/json", map[string]any{"a": 1.0}},
		{func() { d.JSON(`[1, "x"]`) }, "application/json", []any{1.0, "x"}},
	} {
		c.call()
		p := r.last(t)
		if !reflect.DeepEqual(p.Data[c.mime], c.want) {
			t.Errorf("%s: got %#v, want %#v (bundle %v)", c.mime, p.Data[c.mime], c.want, p.Data)
		}
		if _, ok := p.Data["text/plain"].(string); !ok {
			t.Errorf("%s: no text/plain for consoles: %v", c.mime, p.Data)
		}
		if p.ID != "" || p.Update {
			t.Errorf("%s: plain display got id %q update %v", c.mime, p.ID, p.Update)
		}
	}
}

func TestImages(t *testing.T) {
	r := &recorder{}
	d := New(r)

	d.Image(testImage())
	p := r.last(t)
	raw := decodeBase64(t, p.Data["image/png"])
	img, _, err := image.Decode(strings.NewReader(string(raw)))
	if err != nil || img.Bounds().Dx() != 3 || img.Bounds().Dy() != 2 {
		t.Fatalf("Image: decoded %v, %v", img, err)
	}
	if p.Data["text/plain"] != "<PNG image 3×2>" {
		t.Errorf("Image text/plain = %q", p.Data["text/plain"])
	}

	d.JPEG([]byte{0xff, 0xd8, 1})
	p = r.last(t)
	if got := decodeBase64(t, p.Data["image/jpeg"]); string(got) != "\xff\xd8\x01" {
		t.Errorf("JPEG bytes = %q", got)
	}

	d.Image(nil)
	if p := r.last(t); p.Data["text/plain"] != "display.Image: nil image" || len(p.Data) != 1 {
		t.Errorf("nil image: %v", p.Data)
	}
}

func TestMIMENormalizes(t *testing.T) {
	r := &recorder{}
	d := New(r)
	d.MIME(map[string]any{
		"image/png":                     testImage(),
		"image/gif":                     []byte("GIF89a"),
		"application/json":              []byte(`{"k": [1]}`),
		"application/vnd.vegalite+json": map[string]any{"mark": "bar"},
		"text/html":                     []byte("<i>x</i>"),
	})
	p := r.last(t)
	if raw := decodeBase64(t, p.Data["image/png"]); !strings.HasPrefix(string(raw), "\x89PNG") {
		t.Errorf("image.Image under image/png not encoded: %q", raw[:8])
	}
	if raw := decodeBase64(t, p.Data["image/gif"]); string(raw) != "GIF89a" {
		t.Errorf("[]byte under image/gif: %q", raw)
	}
	if !reflect.DeepEqual(p.Data["application/json"], map[string]any{"k": []any{1.0}}) {
		t.Errorf("JSON text not decoded: %#v", p.Data["application/json"])
	}
	if !reflect.DeepEqual(p.Data["application/vnd.vegalite+json"], map[string]any{"mark": "bar"}) {
		t.Errorf("+json value: %#v", p.Data["application/vnd.vegalite+json"])
	}
	if p.Data["text/html"] != "<i>x</i>" {
		t.Errorf("text as []byte: %#v", p.Data["text/html"])
	}

	d.MIME(map[string]any{"text/html": 42})
	if p := r.last(t); p.Data["text/plain"] != "display.MIME: text/html: want a string, got int" {
		t.Errorf("bad bundle shown as %v", p.Data)
	}
	d.JSON(math.NaN())
	if p := r.last(t); !strings.HasPrefix(p.Data["text/plain"].(string), "display.JSON: json: unsupported value") {
		t.Errorf("bad JSON shown as %v", p.Data)
	}
}

func TestUpdateAndClear(t *testing.T) {
	r := &recorder{}
	d := New(r)
	id := d.NewID()
	if id == "" || id == d.NewID() {
		t.Fatalf("NewID not unique: %q", id)
	}
	d.Update(id, map[string]any{"text/html": "<progress value=0>"})
	first := r.last(t)
	if first.ID != id || first.Update || first.Data["text/html"] != "<progress value=0>" {
		t.Errorf("first Update must display under the id: %+v", first)
	}
	d.Update(id, "done")
	second := r.last(t)
	if second.ID != id || !second.Update || second.Data["text/plain"] != `"done"` {
		t.Errorf("second Update must update in place: %+v", second)
	}
	d.Update("", "x")
	if p := r.last(t); p.ID != "" || !strings.Contains(p.Data["text/plain"].(string), "empty display id") {
		t.Errorf("empty id: %+v", p)
	}
	d.Clear(true)
	if p := r.last(t); !p.Clear || !p.Wait {
		t.Errorf("Clear(true): %+v", p)
	}
}

// compiled types rendering themselves, with value and pointer receivers.
type htmlByValue struct{ n int }

func (h htmlByValue) HTML() string { return "<i>value</i>" }

type mdByPointer struct{ n int }

func (m *mdByPointer) Markdown() string { m.n++; return "**pointer**" }

type brokenSVG struct{}

func (brokenSVG) SVG() string { panic("no") }

func TestBundle(t *testing.T) {
	if got := Bundle(htmlByValue{}); got["text/html"] != "<i>value</i>" {
		t.Errorf("value receiver: %v", got)
	}
	if got := Bundle(&htmlByValue{}); got["text/html"] != "<i>value</i>" {
		t.Errorf("value receiver through pointer: %v", got)
	}
	orig := mdByPointer{}
	if got := Bundle(orig); got["text/markdown"] != "**pointer**" || orig.n != 0 {
		t.Errorf("pointer receiver on a value: %v (n=%d)", got, orig.n)
	}
	if got := Bundle(brokenSVG{}); len(got) != 1 || got["text/plain"] != "{}" {
		t.Errorf("panicking display method: %v", got)
	}
	if got := Bundle("s"); got["text/plain"] != `"s"` {
		t.Errorf("string: %v", got)
	}
	if got := Bundle(nil); got["text/plain"] != "<nil>" {
		t.Errorf("nil: %v", got)
	}
	if got := Bundle(testImage()); got["image/png"] == nil || got["text/plain"] != "<*image.RGBA 3×2>" {
		t.Errorf("image.Image: %v", got)
	}
}

func TestMatrixText(t *testing.T) {
	m := mat.NewDense(2, 3, []float64{1, 2, 3, 4, 5, 6})
	want := "*mat.Dense 2×3\n⎡1  2  3⎤\n⎣4  5  6⎦"
	if got := Bundle(m)["text/plain"]; got != want {
		t.Errorf("mat.Dense text:\n%s\nwant\n%s", got, want)
	}
	big := mat.NewDense(100, 100, nil)
	got := Bundle(big)["text/plain"].(string)
	if !strings.HasPrefix(got, "*mat.Dense 100×100\n") || !strings.Contains(got, "...") || strings.Count(got, "\n") > 12 {
		t.Errorf("large matrix not excerpted:\n%s", got)
	}
	if got := Bundle(&mat.Dense{})["text/plain"]; got != "*mat.Dense 0×0" {
		t.Errorf("zero matrix: %q", got)
	}
	var nilDense *mat.Dense
	if got := Bundle(nilDense)["text/plain"]; got != "<nil>" {
		t.Errorf("nil *mat.Dense: %q", got)
	}
}

func testPlot(t *testing.T) *plot.Plot {
	t.Helper()
	p := plot.New()
	p.Title.Text = "test"
	line, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
	if err != nil {
		t.Fatal(err)
	}
	p.Add(line)
	return p
}

func TestPlot(t *testing.T) {
	r := &recorder{}
	d := New(r)
	d.Plot(testPlot(t), 4*vg.Inch, 3*vg.Inch)
	p := r.last(t)
	raw := decodeBase64(t, p.Data["image/png"])
	cfg, format, err := image.DecodeConfig(strings.NewReader(string(raw)))
	if err != nil || format != "png" || cfg.Width != 384 || cfg.Height != 288 {
		t.Errorf("4×3 in plot: %v %s %v, want a 384×288 png (96 dpi)", cfg, format, err)
	}

	d.PlotSVG(testPlot(t), 4*vg.Inch, 3*vg.Inch)
	if s, _ := r.last(t).Data["image/svg+xml"].(string); !strings.Contains(s, "<svg") {
		t.Errorf("PlotSVG: %.80q", s)
	}

	// A plot is shown by Value (and as a cell result) at the default size.
	d.Value(testPlot(t))
	raw = decodeBase64(t, r.last(t).Data["image/png"])
	if cfg, _, err := image.DecodeConfig(strings.NewReader(string(raw))); err != nil || cfg.Width != 576 || cfg.Height != 384 {
		t.Errorf("default plot size: %v %v", cfg, err)
	}
	if got := Bundle(testPlot(t))["text/plain"]; got != "<*plot.Plot>" {
		t.Errorf("plot text/plain = %.100q", got)
	}

	var none *plot.Plot
	d.Plot(none, vg.Inch, vg.Inch)
	if p := r.last(t); p.Data["text/plain"] != "display.Plot: nil plot" {
		t.Errorf("nil plot: %v", p.Data)
	}
	d.Plot(testPlot(t), 0, vg.Inch)
	if p := r.last(t); !strings.Contains(p.Data["text/plain"].(string), "want positive lengths") {
		t.Errorf("zero size: %v", p.Data)
	}
}

func TestSymbols(t *testing.T) {
	d := New(&recorder{})
	syms := d.Symbols()
	for _, name := range []string{"HTML", "Markdown", "LaTeX", "SVG", "PNG", "JPEG", "JSON", "Image", "MIME", "Text",
		"Value", "NewID", "Update", "Clear", "Plot", "PlotSVG", "PlotWriter"} {
		if !syms[name].IsValid() {
			t.Errorf("symbol %s missing", name)
		}
	}
	if _, ok := syms["Symbols"]; ok {
		t.Error("Symbols is kernel-side and must not be offered to cells")
	}
}
