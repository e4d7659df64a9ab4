package session

import (
	"fmt"
	"reflect"
	"runtime"
	"strings"
)

// yaegi panics with a reflect.Value holding what the cell passed to panic,
// and a value of a type declared in a cell has no reflect methods: printed
// as is, panic(err) reads "<error Value>" and panic(E{}) "<struct {}
// Value>". panicText renders the value as Go's runtime prints it after
// "panic: ": the Error() of an error, the String() of a fmt.Stringer (also
// of types declared in cells, called through the interpreter), %v of the
// rest; and runtime errors that yaegi meets as reflect panics in Go's own
// words.

// reflectValue is the type of yaegi's panic values.
var reflectValueType = reflect.TypeOf(reflect.Value{})

// panicText renders a recovered panic value. mayCompile says whether the
// interpreter is idle (no cell code running), so that a method of a cell
// type may be looked up by compiling; otherwise only helpers made earlier
// are used (see prepareMethods).
func (s *Session) panicText(r any, mayCompile bool) string {
	v := unwrapPanic(r)
	if !v.IsValid() {
		return "nil"
	}
	if v.CanInterface() {
		switch x := v.Interface().(type) {
		case runtime.Error:
			return goWords(x.Error())
		case error:
			return goWords(x.Error())
		case fmt.Stringer:
			return x.String()
		case string:
			return goWords(x)
		}
	}
	for _, m := range []string{"Error", "String"} {
		if text, ok := s.cellMethodText(v, m, mayCompile); ok {
			return text
		}
	}
	t := s.typeTable().typeString(v.Type())
	switch v.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128, reflect.String:
		if v.Type().Name() != "" && v.Type().PkgPath() != "" {
			return fmt.Sprintf("%s(%v)", t, valueOf(v)) // main.MyInt(3), as Go prints it
		}
		return fmt.Sprint(valueOf(v))
	}
	// Go prints "(main.T) 0xc000012345"; the value says more than the address.
	return fmt.Sprintf("(%s) %v", t, valueOf(v))
}

// unwrapPanic finds the value inside what yaegi panics with: a
// reflect.Value, inside an interface, inside a reflect.Value again when a
// cell re-panics what recover() gave it.
func unwrapPanic(r any) reflect.Value {
	v := reflect.ValueOf(r)
	for i := 0; i < 16 && v.IsValid(); i++ {
		switch {
		case v.Type() == reflectValueType && v.CanInterface():
			v = v.Interface().(reflect.Value)
		case v.Kind() == reflect.Interface:
			if v.IsNil() {
				return reflect.Value{}
			}
			v = v.Elem()
		default:
			u := unwrapInterp(v)
			if u == v {
				return v
			}
			v = u
		}
	}
	return v
}

// valueOf is what fmt should print for v.
func valueOf(v reflect.Value) any {
	if v.CanInterface() {
		return v.Interface()
	}
	return v
}

// goWords turns the reflect package's panics, which yaegi's interpreted
// code raises where compiled Go raises a runtime error, into Go's words;
// and drops the position yaegi puts before some messages (the frames say
// where).
func goWords(msg string) string {
	msg = positionPrefix.ReplaceAllString(msg, "")
	switch {
	case strings.HasPrefix(msg, "reflect: call of reflect.Value.") && strings.HasSuffix(msg, " on zero Value"),
		strings.HasPrefix(msg, "reflect: indirection through nil pointer"),
		msg == "reflect: call of nil function":
		return "runtime error: invalid memory address or nil pointer dereference"
	case strings.HasPrefix(msg, "reflect") && strings.Contains(msg, "index out of range"):
		return "runtime error: index out of range"
	case strings.HasPrefix(msg, "reflect.Value.Slice") || strings.HasPrefix(msg, "reflect.Value.Slice3"):
		return "runtime error: slice bounds out of range"
	case strings.HasPrefix(msg, "reflect: slice length out of range"):
		return "runtime error: makeslice: len out of range"
	}
	return msg
}

// methodKey names a helper that calls a method of a cell type.
type methodKey struct {
	rt   reflect.Type
	name string
}

// cellMethodText calls the method name (Error or String) of a value of a
// cell type and returns its string. yaegi gives such types no reflect
// methods; the helper of Method (func(x T) any { return x.name }) gives a
// method value the interpreter can call.
func (s *Session) cellMethodText(v reflect.Value, name string, mayCompile bool) (text string, ok bool) {
	s.mu.Lock()
	h, cached := s.methodHelpers[methodKey{v.Type(), name}]
	s.mu.Unlock()
	if !cached {
		if !mayCompile {
			return "", false
		}
		h = s.prepareMethod(v.Type(), name)
	}
	if !h.IsValid() {
		return "", false
	}
	defer func() {
		if r := recover(); r != nil {
			text, ok = "", false
		}
	}()
	m := unwrapInterp(h.Call([]reflect.Value{v})[0])
	if !m.IsValid() || m.Kind() != reflect.Func || m.Type().NumIn() != 0 || m.Type().NumOut() != 1 {
		return "", false
	}
	out := unwrapInterp(m.Call(nil)[0])
	if !out.IsValid() || out.Kind() != reflect.String {
		return "", false
	}
	return out.String(), true
}

// prepareMethod returns (and remembers, also when there is none) the
// helper calling method name on values of reflect type rt, a cell type.
// It compiles: the interpreter must be idle.
func (s *Session) prepareMethod(rt reflect.Type, name string) reflect.Value {
	return s.prepareMethodOf(s.cellTypesOf(rt), rt, name)
}

// prepareMethodOf is prepareMethod among the candidate cell types.
func (s *Session) prepareMethodOf(candidates []cellType, rt reflect.Type, name string) reflect.Value {
	var h reflect.Value
	var found []cellType
	for _, t := range candidates {
		if _, err := s.lookupEval(t.methodExpr(name)); err == nil {
			found = append(found, t)
		}
	}
	if len(found) > 0 {
		// Types with the same fields share rt; the last declared is the
		// one in use (as in the type table).
		t := found[0]
		s.mu.Lock()
		for _, f := range found[1:] {
			if s.declOrder[f.name] > s.declOrder[t.name] {
				t = f
			}
		}
		s.mu.Unlock()
		h, _ = s.methodHelper(t, name, rt)
	}
	s.mu.Lock()
	s.methodHelpers[methodKey{rt, name}] = h
	s.mu.Unlock()
	return h
}

// prepareMethods makes the helpers for the Error and String methods of
// the cell types a chunk declared, so that a goroutine panicking with such
// a value while a later cell runs (when nothing may be compiled) is
// described by its Error().
func (s *Session) prepareMethods(types []string) {
	for _, n := range types {
		p, err := s.lookupEval("(*" + n + ")(nil)")
		if err != nil || !p.IsValid() || p.Kind() != reflect.Pointer {
			continue
		}
		// Only n is tried here: looking through every global (as a
		// panic value of unknown type needs) would cost a compile per
		// global per type.
		for _, t := range []cellType{{n, false}, {n, true}} {
			rt := p.Type().Elem()
			if t.ptr {
				rt = p.Type()
			}
			for _, m := range []string{"Error", "String"} {
				s.mu.Lock()
				_, done := s.methodHelpers[methodKey{rt, m}]
				s.mu.Unlock()
				if !done {
					s.prepareMethodOf([]cellType{t}, rt, m)
				}
			}
		}
	}
}

// declaredIn names the earlier cell that declared the function name, for
// a frame: "" when the failing cell did (or the name is unknown).
func (s *Session) declaredIn(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.funcExec[name]
	if !ok || at == s.execs {
		return ""
	}
	if l := s.execLabels[at]; l != "" {
		return l
	}
	return "an earlier cell"
}

// PanicText renders a panic value recovered outside the session's own
// executions (the registry's calls of interpreted functions) as Go prints
// it after "panic: ". Methods of cell types are looked up by compiling only
// when no cell runs; otherwise the helpers made when the types were
// declared serve.
func (s *Session) PanicText(r any) string {
	idle := s.run.TryLock()
	if idle {
		defer s.run.Unlock()
	}
	return s.panicText(r, idle)
}
