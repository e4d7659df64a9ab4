// Package display is what cells see as package "gompi/display": rich output
// (HTML, Markdown, LaTeX, SVG, PNG, JPEG, JSON, images, plots, any MIME
// bundle) shown while a cell runs, and display ids so that a cell can redraw
// something in place (a progress bar, a plot).
//
// The package knows nothing of Jupyter or MPI: what a cell shows leaves
// through a Publisher, which the kernel implements (on a worker rank it
// forwards to rank 0, which adds the rank to the metadata).
//
// The display functions return nothing, so that a call written as a cell's
// last line does not show a result of its own. What cannot be rendered
// (a JSON value with a channel in it, a plot that fails to draw) is shown as
// a text/plain line naming the call and the error, in the place where the
// output would have been: the user sees why, and the cell goes on.
package display

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"reflect"
	"sync"

	"github.com/gompi-kernel/gompi-kernel/internal/exports"
	"github.com/google/uuid"
)

// Publisher is how a rank's rich output leaves the cell; the kernel
// implements it.
type Publisher interface {
	// Display publishes display_data, or update_display_data when update is
	// set. id "" means no display id.
	Display(data, metadata map[string]any, id string, update bool)
	// Clear publishes clear_output.
	Clear(wait bool)
}

// Display is the rich output of one rank's cells.
type Display struct {
	p Publisher

	mu    sync.Mutex
	shown map[string]bool // display ids published once, so Update replaces them
}

// New returns the Display that publishes through p.
func New(p Publisher) *Display {
	return &Display{p: p, shown: map[string]bool{}}
}

// HTML shows an HTML fragment.
func (d *Display) HTML(s string) {
	d.publish(map[string]any{"text/html": s, "text/plain": "<HTML>"})
}

// Markdown shows Markdown text (consoles show the source).
func (d *Display) Markdown(s string) {
	d.publish(map[string]any{"text/markdown": s, "text/plain": s})
}

// LaTeX shows a LaTeX formula, e.g. `$\int_0^1 x\,dx$` (consoles show the
// source).
func (d *Display) LaTeX(s string) {
	d.publish(map[string]any{"text/latex": s, "text/plain": s})
}

// SVG shows an SVG document.
func (d *Display) SVG(s string) {
	d.publish(map[string]any{"image/svg+xml": s, "text/plain": "<SVG image>"})
}

// PNG shows PNG-encoded bytes.
func (d *Display) PNG(b []byte) {
	d.publish(map[string]any{"image/png": encodeBinary(b), "text/plain": imageText("PNG", b)})
}

// JPEG shows JPEG-encoded bytes.
func (d *Display) JPEG(b []byte) {
	d.publish(map[string]any{"image/jpeg": encodeBinary(b), "text/plain": imageText("JPEG", b)})
}

// JSON shows v as a JSON document (frontends render it as a tree). A
// string, []byte or json.RawMessage is taken as JSON text; anything else is
// marshalled with encoding/json.
func (d *Display) JSON(v any) {
	doc, err := jsonDoc(v)
	if err != nil {
		d.failed("JSON", err)
		return
	}
	text, _ := json.MarshalIndent(doc, "", "  ") // doc came from json.Unmarshal: cannot fail
	d.publish(map[string]any{"application/json": doc, "text/plain": string(text)})
}

// Image shows an image, encoded as PNG.
func (d *Display) Image(img image.Image) {
	b, err := encodePNG(img)
	if err != nil {
		d.failed("Image", err)
		return
	}
	d.PNG(b)
}

// Text shows plain text as display output (not as a stream: it can be
// updated in place through a display id).
func (d *Display) Text(s string) {
	d.publish(map[string]any{"text/plain": s})
}

// MIME shows a MIME bundle as given, e.g.
// map[string]any{"text/html": "<i>x</i>", "text/plain": "x"}. Binary image
// types ("image/png", "image/jpeg", …) may be given as []byte or as an
// image.Image and are base64-encoded; "application/json" may be given as
// JSON text ([]byte, json.RawMessage) or as any Go value.
func (d *Display) MIME(bundle map[string]any) {
	data, err := normalize(bundle)
	if err != nil {
		d.failed("MIME", err)
		return
	}
	d.publish(data)
}

// Value shows v as it would be shown as a cell's result: HTML(), Markdown(),
// SVG(), PNG(), JPEG(), LaTeX() and JSON() methods of compiled types, images
// and plots as PNG, gonum matrices as aligned text, the rest with %v.
// (Methods of types declared in a cell are only seen when the value is the
// cell's result; the interpreter does not give them to compiled code.)
func (d *Display) Value(v any) {
	d.publish(Bundle(v))
}

// NewID returns a fresh display id for Update.
func (d *Display) NewID() string {
	return uuid.NewString()
}

// Update shows v under display id: the first time an id is used it is
// displayed there (display_data), later Updates replace that output in
// place (update_display_data), also in an earlier cell. v is a MIME bundle
// (map[string]any, as for MIME) or any value (rendered as by Value):
//
//	id := display.NewID()
//	for i := 0; i <= 100; i += 10 {
//		display.Update(id, map[string]any{"text/html": fmt.Sprintf("<progress value=%d max=100></progress>", i)})
//	}
func (d *Display) Update(id string, v any) {
	if id == "" {
		d.failed("Update", fmt.Errorf("empty display id (use display.NewID())"))
		return
	}
	var data map[string]any
	if bundle, ok := v.(map[string]any); ok {
		var err error
		if data, err = normalize(bundle); err != nil {
			d.failed("Update", err)
			return
		}
	} else {
		data = Bundle(v)
	}
	d.mu.Lock()
	update := d.shown[id]
	d.shown[id] = true
	d.mu.Unlock()
	d.p.Display(data, map[string]any{}, id, update)
}

// Clear clears the cell's output so far (clear_output). With wait, the
// frontend clears only when the next output arrives, which avoids flicker
// when redrawing in a loop.
func (d *Display) Clear(wait bool) {
	d.p.Clear(wait)
}

// Symbols returns the package as the interpreter wants it: every exported
// method of *Display bound to d as a package-level function (except
// Symbols), plus the exported types. New methods appear in cells without
// changes here.
func (d *Display) Symbols() map[string]reflect.Value {
	return exports.With(exports.Methods(d, "Symbols"),
		map[string]reflect.Value{"PlotWriter": reflect.ValueOf((*PlotWriter)(nil))})
}

func (d *Display) publish(data map[string]any) {
	d.p.Display(data, map[string]any{}, "", false)
}

// failed shows why call could not display its argument.
func (d *Display) failed(call string, err error) {
	d.publish(map[string]any{"text/plain": fmt.Sprintf("display.%s: %v", call, err)})
}

// imageText is the text/plain stand-in of an encoded image: its size when
// the header can be read.
func imageText(format string, b []byte) string {
	if cfg, _, err := image.DecodeConfig(bytes.NewReader(b)); err == nil {
		return fmt.Sprintf("<%s image %d×%d>", format, cfg.Width, cfg.Height)
	}
	return fmt.Sprintf("<%s image, %d bytes>", format, len(b))
}

func encodePNG(img image.Image) ([]byte, error) {
	if img == nil || reflect.ValueOf(img).Kind() == reflect.Pointer && reflect.ValueOf(img).IsNil() {
		return nil, fmt.Errorf("nil image")
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encoding PNG: %w", err)
	}
	return buf.Bytes(), nil
}
