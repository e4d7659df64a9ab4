package display

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg" // DecodeConfig of JPEG bytes, for their text/plain stand-in
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot/vg"
)

// Methods lists, in a fixed order, the names of the methods through which
// a value renders itself, e.g. func (T) HTML() string. The session also
// calls them on types declared in cells, through the interpreter.
func Methods() []string {
	return []string{"HTML", "JPEG", "JSON", "LaTeX", "Markdown", "PNG", "SVG"}
}

// MethodMIME is the MIME type of display method m, "" for other names.
func MethodMIME(m string) string {
	switch m {
	case "HTML":
		return "text/html"
	case "Markdown":
		return "text/markdown"
	case "SVG":
		return "image/svg+xml"
	case "PNG":
		return "image/png"
	case "JPEG":
		return "image/jpeg"
	case "LaTeX":
		return "text/latex"
	case "JSON":
		return "application/json"
	}
	return ""
}

// AddMethodResult stores r, the result of display method m, in data in the
// form Jupyter wants: images base64, JSON decoded. A result of the wrong
// type is ignored.
func AddMethodResult(data map[string]any, m string, r reflect.Value) {
	mime := MethodMIME(m)
	if mime == "" || !r.IsValid() {
		return
	}
	switch m {
	case "PNG", "JPEG":
		if isBytes(r) {
			data[mime] = encodeBinary(r.Bytes())
		}
	case "JSON":
		if !r.CanInterface() {
			return
		}
		if doc, err := jsonDoc(r.Interface()); err == nil {
			data[mime] = doc
		}
	default:
		if r.Kind() == reflect.String {
			data[mime] = r.String()
		}
	}
}

// Bundle is the MIME bundle of v as a cell's result shows it:
//   - text/plain: strings quoted, gonum matrices (mat.Matrix) as aligned
//     rows (an excerpt when large), the rest %v;
//   - the display methods (Methods) of compiled types, on T or on *T;
//   - image.Image and plots (*plot.Plot, anything with its WriterTo method)
//     as image/png, plots at 6×4 inches.
//
// A display method that panics is left out.
func Bundle(v any) map[string]any {
	rv := reflect.ValueOf(v)
	data := map[string]any{"text/plain": PlainText(rv)}
	if !rv.IsValid() {
		return data
	}
	// A method with a pointer receiver is in the method set of *T only:
	// offer it on an addressable copy (a copy, so the caller's value is not
	// changed by a display method).
	withPtr := rv
	if rv.Kind() != reflect.Pointer && rv.Kind() != reflect.Interface {
		p := reflect.New(rv.Type())
		p.Elem().Set(rv)
		withPtr = p
	}
	for _, m := range Methods() {
		f := withPtr.MethodByName(m)
		if !f.IsValid() || f.Type().NumIn() != 0 || f.Type().NumOut() != 1 {
			continue
		}
		func() {
			defer func() { _ = recover() }() // a broken display method must not fail the cell
			AddMethodResult(data, m, f.Call(nil)[0])
		}()
	}
	// %v of an image lists its pixels and of a plot its internals: a
	// console gets a short stand-in instead.
	switch x := v.(type) {
	case image.Image:
		if isNilPointer(rv) {
			break
		}
		b := x.Bounds()
		data["text/plain"] = fmt.Sprintf("<%T %d×%d>", v, b.Dx(), b.Dy())
		if _, ok := data["image/png"]; ok {
			break
		}
		if b, err := encodePNG(x); err == nil {
			data["image/png"] = encodeBinary(b)
		}
	case PlotWriter:
		if isNilPointer(rv) {
			break
		}
		data["text/plain"] = fmt.Sprintf("<%T>", v)
		if _, ok := data["image/png"]; ok {
			break
		}
		if b, err := plotPNG(x, DefaultPlotWidth, DefaultPlotHeight); err == nil {
			data["image/png"] = encodeBinary(b)
		}
	}
	return data
}

// PlainText is the text/plain form of a value: strings quoted (%q), gonum
// matrices as aligned rows, the rest %v.
func PlainText(v reflect.Value) string {
	if !v.IsValid() {
		return "<nil>"
	}
	if v.Kind() == reflect.String {
		return strconv.Quote(v.String())
	}
	if v.CanInterface() {
		if m, ok := v.Interface().(mat.Matrix); ok && !isNilPointer(v) {
			return matrixText(m)
		}
	}
	return fmt.Sprintf("%v", v)
}

// matrixText prints a matrix the way mat.Formatted does (%v of a *mat.Dense
// shows its internal struct), with its dimensions first, and only the
// corners of a large one.
func matrixText(m mat.Matrix) (s string) {
	defer func() {
		if recover() != nil { // a matrix type whose At panics (e.g. a zero mat.Dense)
			s = fmt.Sprintf("%T (empty)", m)
		}
	}()
	r, c := m.Dims()
	if r == 0 || c == 0 {
		return fmt.Sprintf("%T %d×%d", m, r, c)
	}
	opts := []mat.FormatOption{mat.Squeeze()}
	if r > 12 || c > 12 {
		opts = append(opts, mat.Excerpt(4))
	}
	return fmt.Sprintf("%T %d×%d\n%v", m, r, c, mat.Formatted(m, opts...))
}

func isNilPointer(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice:
		return v.IsNil()
	}
	return false
}

// PlotWriter is what a plot is to display: *plot.Plot of gonum.org/v1/plot
// satisfies it. (An interface, so that this package does not import plot
// and its drawing back ends.)
type PlotWriter interface {
	WriterTo(w, h vg.Length, format string) (io.WriterTo, error)
}

// The size of a plot shown without one: 6×4 inches, 576×384 pixels at the
// 96 dpi of gonum's PNG canvas.
const (
	DefaultPlotWidth  = 6 * vg.Inch
	DefaultPlotHeight = 4 * vg.Inch
)

// Plot shows a plot as a PNG image of w×h (vg.Inch, vg.Centimeter, …):
//
//	p := plot.New()
//	…
//	display.Plot(p, 6*vg.Inch, 4*vg.Inch)
func (d *Display) Plot(p PlotWriter, w, h vg.Length) {
	b, err := plotPNG(p, w, h)
	if err != nil {
		d.failed("Plot", err)
		return
	}
	d.PNG(b)
}

// PlotSVG shows a plot as an SVG image of w×h (sharp at any zoom; larger
// than PNG for plots of many points).
func (d *Display) PlotSVG(p PlotWriter, w, h vg.Length) {
	b, err := renderPlot(p, w, h, "svg")
	if err != nil {
		d.failed("PlotSVG", err)
		return
	}
	d.SVG(string(b))
}

func plotPNG(p PlotWriter, w, h vg.Length) ([]byte, error) {
	return renderPlot(p, w, h, "png")
}

// renderPlot draws p. gonum/plot panics on some bad input (e.g. a
// logarithmic axis over zero): that becomes an error too.
func renderPlot(p PlotWriter, w, h vg.Length, format string) (b []byte, err error) {
	if p == nil || isNilPointer(reflect.ValueOf(p)) {
		return nil, fmt.Errorf("nil plot")
	}
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("plot size %v×%v: want positive lengths, e.g. 6*vg.Inch", w, h)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("drawing the plot: %v", r)
		}
	}()
	wt, err := p.WriterTo(w, h, format)
	if err != nil {
		return nil, fmt.Errorf("drawing the plot as %s: %w", format, err)
	}
	var buf strings.Builder
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("encoding the plot as %s: %w", format, err)
	}
	return []byte(buf.String()), nil
}

// normalize turns a bundle as a cell may write it into what Jupyter wants:
// binary images base64, JSON as a decoded document, text as strings.
func normalize(bundle map[string]any) (map[string]any, error) {
	if len(bundle) == 0 {
		return nil, fmt.Errorf("empty MIME bundle")
	}
	keys := make([]string, 0, len(bundle))
	for k := range bundle {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the first bad entry reported is always the same
	out := make(map[string]any, len(bundle))
	for _, k := range keys {
		v := bundle[k]
		switch {
		case isJSONType(k):
			doc, err := jsonDoc(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = doc
		case isBinaryImage(k):
			switch x := v.(type) {
			case []byte:
				out[k] = encodeBinary(x)
			case image.Image:
				if k != "image/png" {
					return nil, fmt.Errorf("%s: an image.Image can only be given as image/png", k)
				}
				b, err := encodePNG(x)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", k, err)
				}
				out[k] = encodeBinary(b)
			case string:
				out[k] = x // already base64, as Jupyter wants
			default:
				return nil, fmt.Errorf("%s: want []byte, image.Image or a base64 string, got %T", k, v)
			}
		default:
			switch x := v.(type) {
			case string:
				out[k] = x
			case []byte:
				if !utf8.Valid(x) {
					return nil, fmt.Errorf("%s: not UTF-8 text (binary data goes under an image/… type)", k)
				}
				out[k] = string(x)
			default:
				return nil, fmt.Errorf("%s: want a string, got %T", k, v)
			}
		}
	}
	return out, nil
}

// isJSONType: application/json and application/…+json (vega, geo, …) are
// JSON documents in a bundle.
func isJSONType(mime string) bool {
	return mime == "application/json" || strings.HasPrefix(mime, "application/") && strings.HasSuffix(mime, "+json")
}

// isBinaryImage: every image type but SVG travels base64-encoded.
func isBinaryImage(mime string) bool {
	return strings.HasPrefix(mime, "image/") && !strings.HasPrefix(mime, "image/svg")
}

// jsonDoc turns v into the generic JSON document a bundle holds. Text
// (string, []byte, json.RawMessage) is parsed; other values are
// marshalled, so their JSON methods and struct tags apply.
func jsonDoc(v any) (any, error) {
	var raw []byte
	switch x := v.(type) {
	case string:
		raw = []byte(x)
	case json.RawMessage:
		raw = x
	case []byte:
		raw = x
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		raw = b
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("not JSON text: %w", err)
	}
	return doc, nil
}

func isBytes(r reflect.Value) bool {
	return r.Kind() == reflect.Slice && r.Type().Elem().Kind() == reflect.Uint8
}

func encodeBinary(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
