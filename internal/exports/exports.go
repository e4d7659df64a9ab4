// Package exports makes Go values into packages for the cells' interpreter.
//
// yaegi takes compiled packages as maps from a name to a reflect.Value
// (interp.Exports). The kernel's cell-side packages (mpi, display, the
// registry API, the driver) are each one value whose exported methods are
// the package's functions, bound to this rank's state; Methods builds that
// map, so a method added to such a value appears in cells with no change
// anywhere else.
package exports

import "reflect"

// Methods returns v's exported methods, bound to v, by name, leaving out
// those named in skip (methods meant for the kernel, not for cells).
func Methods(v any, skip ...string) map[string]reflect.Value {
	left := make(map[string]bool, len(skip))
	for _, s := range skip {
		left[s] = true
	}
	rv := reflect.ValueOf(v)
	t := rv.Type()
	out := make(map[string]reflect.Value, t.NumMethod())
	for i := 0; i < t.NumMethod(); i++ {
		if name := t.Method(i).Name; !left[name] {
			out[name] = rv.Method(i)
		}
	}
	return out
}

// With adds the entries of extra (types, constants, variables) to pkg and
// returns it.
func With(pkg map[string]reflect.Value, extra map[string]reflect.Value) map[string]reflect.Value {
	for k, v := range extra {
		pkg[k] = v
	}
	return pkg
}
