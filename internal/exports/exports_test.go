package exports

import (
	"reflect"
	"testing"
)

type counter struct{ n int }

func (c *counter) Add(d int) int { c.n += d; return c.n }
func (c *counter) Reset()        { c.n = 0 }
func (c *counter) hidden()       {}

func TestMethodsBindsTheValue(t *testing.T) {
	c := &counter{}
	pkg := With(Methods(c, "Reset"), map[string]reflect.Value{"Counter": reflect.ValueOf((*counter)(nil))})
	if _, ok := pkg["Reset"]; ok {
		t.Error("skipped method exported")
	}
	if len(pkg) != 2 {
		t.Errorf("exports %v, want Add and Counter", pkg)
	}
	add := pkg["Add"].Interface().(func(int) int)
	add(2)
	if got := add(3); got != 5 || c.n != 5 {
		t.Errorf("Add bound to another value: got %d, c.n %d", got, c.n)
	}
}
