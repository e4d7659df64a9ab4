package session

import (
	"go/constant"
	"reflect"
	"testing"

	"github.com/traefik/yaegi/interp"
)

// useGrid, useStep and useCount stand for what a plugin built from a
// %%compile cell exports.
type useGrid struct{ V []float64 }

func (g *useGrid) Sum() float64 {
	s := 0.0
	for _, x := range g.V {
		s += x
	}
	return s
}

func useStep(u, v []float64) {
	for i := range u {
		v[i] = 2 * u[i]
	}
}

func useCount(n int) int { return n + 1 }

// TestUse adds a compiled package to a live session and binds its names in
// the cells' scope the way the compile package does: unqualified, by the
// names they were declared with, replacing earlier definitions.
func TestUse(t *testing.T) {
	ts := newTestSession(t, Options{})
	if ts.HasPackage("gompi/c1") {
		t.Fatal("HasPackage before Use: true")
	}
	if !ts.HasPackage("fmt") {
		t.Fatal(`HasPackage("fmt") = false`)
	}
	err := ts.Use(interp.Exports{"gompi/c1/c1": {
		"Step":  reflect.ValueOf(useStep),
		"count": reflect.ValueOf(useCount),
		"Grid":  reflect.ValueOf((*useGrid)(nil)),
		"N":     reflect.ValueOf(constant.MakeInt64(1000)),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !ts.HasPackage("gompi/c1") {
		t.Fatal("HasPackage after Use: false")
	}
	ts.run(t, "func Step(a, b []float64) { b[0] = 99 }")
	ts.run(t, "import c1 \"gompi/c1\"\nvar Step = c1.Step\nvar count = c1.count\ntype Grid = c1.Grid\nconst N = c1.N")
	for code, want := range map[string]string{
		`u := []float64{1, 2}; v := make([]float64, 2); Step(u, v); v`: "[2 4]",
		`count(3)`:                            "4",
		`(&Grid{V: []float64{1, 2.5}}).Sum()`: "3.5",
		`2.5 * N`:                             "2500",
	} {
		if got := plain(ts.run(t, code)); got != want {
			t.Errorf("%s = %s, want %s", code, got, want)
		}
	}
	// Reset keeps the package importable.
	if err := ts.Reset(); err != nil {
		t.Fatal(err)
	}
	if got := plain(ts.run(t, "import c1 \"gompi/c1\"\nc1.count(1)")); got != "2" {
		t.Errorf("after Reset: c1.count(1) = %s, want 2", got)
	}
}
