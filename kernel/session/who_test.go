package session

import (
	"fmt"
	"testing"
)

func TestWho(t *testing.T) {
	ts := newTestSession(t, Options{})
	ts.run(t, "type Point struct{ X, Y int }\nfunc half(x float64) float64 { return x / 2 }\nn := 3\np := Point{1, 2}")
	got := fmt.Sprint(ts.Who())
	want := "[{Point type } {half func func(float64) float64} {n var int} {p var Point}]" // the declared name, not yaegi's struct
	if got != want {
		t.Errorf("Who() = %s\nwant %s", got, want)
	}
}
