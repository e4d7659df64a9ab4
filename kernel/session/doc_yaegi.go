package session

import (
	"reflect"
	"sync"
	"unsafe"

	"github.com/traefik/yaegi/interp"
)

// This file reads, by reflection on the pinned yaegi v0.16.1 (as
// redefine.go does), what the interpreter knows of the cells' own
// declarations: the type of a global and the fields and methods of a type
// declared in a cell. yaegi gives interpreted types no reflect methods, so
// this is the only place where methods of cell types can be found. If the
// layout ever changes, these helpers find nothing.

// yaegi's symbol kinds and type categories (interp/scope.go, interp/type.go).
const (
	yConstSym = 3
	yFuncSym  = 4
	yTypeSym  = 7
	yVarSym   = 9

	yPtrT    = 26
	yStructT = 30
	yValueT  = 37
)

// cellSym is a name of the cells' package as yaegi holds it.
type cellSym struct {
	kind int           // yConstSym, yFuncSym, yTypeSym, yVarSym
	typ  reflect.Value // the symbol's *itype (a struct value), or invalid
}

// lookupCellSym returns the symbol name of the cells' main package.
func lookupCellSym(ip *interp.Interpreter, name string) (cellSym, bool) {
	if ip == nil {
		return cellSym{}, false
	}
	iv := reflect.ValueOf(ip).Elem()
	if mu := field(iv, "mutex"); mu.IsValid() && mu.Type() == reflect.TypeOf(sync.RWMutex{}) {
		m := (*sync.RWMutex)(unsafe.Pointer(mu.UnsafeAddr()))
		m.RLock()
		defer m.RUnlock()
	}
	pkgs := field(iv, "srcPkg")
	if !pkgs.IsValid() || pkgs.Kind() != reflect.Map {
		return cellSym{}, false
	}
	main := pkgs.MapIndex(reflect.ValueOf("main"))
	if !main.IsValid() || main.Kind() != reflect.Map || main.Type().Key().Kind() != reflect.String {
		return cellSym{}, false
	}
	sym := main.MapIndex(reflect.ValueOf(name))
	if !sym.IsValid() || sym.Kind() != reflect.Pointer || sym.IsNil() {
		return cellSym{}, false
	}
	se := sym.Elem()
	k := field(se, "kind")
	if !k.IsValid() || !k.CanUint() {
		return cellSym{}, false
	}
	return cellSym{kind: int(k.Uint()), typ: derefStruct(field(se, "typ"))}, true
}

// derefStruct returns the struct a non-nil pointer points to.
func derefStruct(p reflect.Value) reflect.Value {
	if !p.IsValid() || p.Kind() != reflect.Pointer || p.IsNil() || p.Elem().Kind() != reflect.Struct {
		return reflect.Value{}
	}
	return p.Elem()
}

func itypeString(t reflect.Value, name string) string {
	if f := field(t, name); f.IsValid() && f.Kind() == reflect.String {
		return f.String()
	}
	return ""
}

func itypeCat(t reflect.Value) int {
	if f := field(t, "cat"); f.IsValid() && f.CanUint() {
		return int(f.Uint())
	}
	return -1
}

// itypeMembers lists the field and method names of an interpreted type
// (through one pointer); for a compiled type wrapped by yaegi, its
// reflect members.
func itypeMembers(t reflect.Value) []string {
	if itypeCat(t) == yPtrT {
		t = derefStruct(field(t, "val"))
	}
	if !t.IsValid() {
		return nil
	}
	if itypeCat(t) == yValueT {
		if rt, ok := field(t, "rtype").Interface().(reflect.Type); ok && rt != nil {
			return typeMemberNames(rt)
		}
		return nil
	}
	var out []string
	for _, f := range itypeFields(t) {
		out = append(out, f[0])
	}
	for _, m := range itypeMethods(t) {
		out = append(out, m[0])
	}
	return out
}

// itypeFields returns the fields of an interpreted struct type as
// {name, type} pairs.
func itypeFields(t reflect.Value) [][2]string {
	fs := field(t, "field")
	if !fs.IsValid() || fs.Kind() != reflect.Slice {
		return nil
	}
	var out [][2]string
	for i := 0; i < fs.Len(); i++ {
		f := fs.Index(i)
		out = append(out, [2]string{itypeString(f, "name"), itypeString(derefStruct(field(f, "typ")), "str")})
	}
	return out
}

// itypeMethods returns the methods of an interpreted type (declared on T
// or *T) as {name, func type} pairs.
func itypeMethods(t reflect.Value) [][2]string {
	ms := field(t, "method")
	if !ms.IsValid() || ms.Kind() != reflect.Slice {
		return nil
	}
	var out [][2]string
	for i := 0; i < ms.Len(); i++ {
		n := derefStruct(ms.Index(i))
		if name := itypeString(n, "ident"); name != "" {
			out = append(out, [2]string{name, itypeString(derefStruct(field(n, "typ")), "str")})
		}
	}
	return out
}
