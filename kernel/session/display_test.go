package session

import (
	"encoding/base64"
	"image"
	"image/color"
	"reflect"
	"strings"
	"testing"
)

// htmlValue is a compiled type that renders itself.
type htmlValue struct{}

func (htmlValue) HTML() string         { return "<b>compiled</b>" }
func (htmlValue) JSON() map[string]int { return map[string]int{"a": 1} }

func TestDisplayMIME(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(0, 0, color.White)
	ts := newTestSession(t, Options{Exports: map[string]map[string]reflect.Value{
		"gompi/disp/disp": {
			"Value": reflect.ValueOf(func() htmlValue { return htmlValue{} }),
			"Image": reflect.ValueOf(func() image.Image { return img }),
		},
	}})
	ts.run(t, `type Table struct{ Rows int }
func (t Table) HTML() string { return fmt.Sprintf("<table rows=%d>", t.Rows) }
func (t Table) Markdown() string { return "| table |" }
type Named int
func (n Named) String() string { return fmt.Sprintf("named#%d", int(n)) }
type Logo struct{}
func (Logo) SVG() string { return "<svg/>" }
func (Logo) PNG() []byte { return []byte{1, 2, 3} }`)

	res := ts.run(t, "Table{Rows: 3}")
	if res.Data["text/html"] != "<table rows=3>" || res.Data["text/markdown"] != "| table |" || res.Data["text/plain"] != "{3}" {
		t.Errorf("interpreted HTML: %v", res.Data)
	}
	if res := ts.run(t, "Named(7)"); res.Data["text/plain"] != "named#7" {
		t.Errorf("interpreted String: %v", res.Data)
	}
	res = ts.run(t, "Logo{}")
	if res.Data["image/svg+xml"] != "<svg/>" || res.Data["image/png"] != base64.StdEncoding.EncodeToString([]byte{1, 2, 3}) {
		t.Errorf("interpreted SVG/PNG: %v", res.Data)
	}
	// A value without display methods gets text/plain only, even though
	// other types have them.
	if res := ts.run(t, "42"); len(res.Data) != 1 {
		t.Errorf("plain value: %v", res.Data)
	}
	res = ts.run(t, "disp.Value()")
	if res.Data["text/html"] != "<b>compiled</b>" || !reflect.DeepEqual(res.Data["application/json"], map[string]any{"a": 1.0}) {
		t.Errorf("compiled HTML/JSON: %v", res.Data)
	}
	res = ts.run(t, "disp.Image()")
	png, _ := res.Data["image/png"].(string)
	if raw, err := base64.StdEncoding.DecodeString(png); err != nil || !strings.HasPrefix(string(raw), "\x89PNG") {
		t.Errorf("image.Image: %v", res.Data)
	}
}
