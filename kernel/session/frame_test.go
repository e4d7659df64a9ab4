package session

import (
	"reflect"
	"testing"
	"unsafe"
)

// frameData is the interpreter's global frame, as growFrame sees it.
func frameData(t *testing.T, s *Session) []reflect.Value {
	t.Helper()
	f := field(reflect.ValueOf(s.ip).Elem(), "frame")
	if !f.IsValid() || f.IsNil() {
		t.Fatal("no frame field in this yaegi")
	}
	d := field(f.Elem(), "data")
	return *(*[]reflect.Value)(unsafe.Pointer(d.UnsafeAddr()))
}

// TestFrameGrowsByDoubling: every cell below adds global slots (its
// expression temporaries). yaegi alone reallocated and copied the whole
// global frame for each such cell, so a cell's cost grew with the number
// of cells run before it; growFrame doubles it instead, so 400 cells
// move it a handful of times, and the values stay right.
func TestFrameGrowsByDoubling(t *testing.T) {
	ts := newTestSession(t, Options{})
	ts.run(t, "x := 1")
	moves := 0
	last := unsafe.SliceData(frameData(t, ts.Session))
	for i := 0; i < 400; i++ {
		ts.run(t, "y := fmt.Sprint(x + 1)")
		if p := unsafe.SliceData(frameData(t, ts.Session)); p != last {
			moves++
			last = p
		}
	}
	if moves > 12 {
		t.Errorf("the global frame moved %d times in 400 cells that each add slots; want a few (doubling)", moves)
	}
	if r := ts.Execute(t.Context(), "y + fmt.Sprint(x)"); r.Err != nil || r.Data["text/plain"] != `"21"` {
		t.Errorf("after 400 cells: %+v", r)
	}
}
