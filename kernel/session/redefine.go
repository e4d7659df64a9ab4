package session

import (
	"reflect"
	"unsafe"

	"github.com/traefik/yaegi/interp"
)

// forgetGlobal removes name from the interpreter's main package scope.
//
// yaegi v0.16.1 silently ignores a second `type T …` declaration: when it
// computes the type of the right-hand side it finds the existing complete
// symbol T and returns it, so the old definition stays (see typeName and
// nodeType2 in interp/type.go). Functions, variables and constants can be
// redeclared without help. Removing the old symbol before the new
// declaration is evaluated makes the new one take effect; values and
// functions that use the old type keep it, as in any Go REPL.
//
// The scope is not exported, so this reaches it by reflection on the pinned
// yaegi version; if the layout ever changes it does nothing.
func forgetGlobal(i *interp.Interpreter, name string) {
	scopes := field(reflect.ValueOf(i).Elem(), "scopes")
	if !scopes.IsValid() || scopes.Kind() != reflect.Map {
		return
	}
	sc := scopes.MapIndex(reflect.ValueOf("main"))
	if !sc.IsValid() || sc.Kind() != reflect.Pointer || sc.IsNil() {
		return
	}
	sym := field(sc.Elem(), "sym")
	if !sym.IsValid() || sym.Kind() != reflect.Map || sym.Type().Key().Kind() != reflect.String {
		return
	}
	sym.SetMapIndex(reflect.ValueOf(name), reflect.Value{})
}

// field returns a settable view of an unexported struct field, or the zero
// Value.
func field(v reflect.Value, name string) reflect.Value {
	if v.Kind() != reflect.Struct || !v.CanAddr() {
		return reflect.Value{}
	}
	f := v.FieldByName(name)
	if !f.IsValid() {
		return f
	}
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
}
