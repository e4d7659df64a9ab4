package session

import (
	"fmt"
	"go/constant"
	"reflect"
	"strings"
)

// Inspect describes the identifier or pkg.Name under (or just before) the
// cursor, a position in code points: for a package member its kind and Go
// type (parameter names are not kept by compiled symbols), for a global of
// an earlier cell its type and value, for a package its import path.
// yaegi's stdlib carries no documentation, so there is none. detail is
// accepted for Jupyter's detail_level and changes nothing yet.
func (s *Session) Inspect(code string, cursor, detail int) (map[string]any, bool) {
	_ = detail
	off := byteOffset(code, cursor)
	start, end := wordStart(code, off), wordEnd(code, off)
	if start == end {
		return nil, false
	}
	name := code[start:end]
	var text string
	if recv, ok := selectorBefore(code, start); ok {
		text = s.describeMember(recv, name)
	} else {
		text = s.describeName(name)
	}
	if text == "" {
		return nil, false
	}
	return map[string]any{"text/plain": text}, true
}

// describeMember describes recv.name.
func (s *Session) describeMember(recv, name string) string {
	if path, ok := s.packagePath(recv); ok {
		sym, ok := s.pkgs.symbols[path][name]
		if !ok {
			return ""
		}
		return describeSymbol(recv+"."+name, sym)
	}
	v, ok := s.global(recv)
	if !ok {
		return ""
	}
	v = unwrapInterp(v)
	if !v.IsValid() {
		return ""
	}
	if m := v.MethodByName(name); m.IsValid() {
		return fmt.Sprintf("method %s.%s %s", recv, name, m.Type())
	}
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if v.Kind() == reflect.Struct {
		if f := v.FieldByName(name); f.IsValid() {
			return fmt.Sprintf("field %s.%s %s = %s", recv, name, f.Type(), plainText(f))
		}
	}
	return ""
}

// describeName describes a lone identifier.
func (s *Session) describeName(name string) string {
	if v, ok := s.global(name); ok {
		u := unwrapInterp(v)
		typ := "nil"
		if u.IsValid() {
			typ = u.Type().String()
		}
		return fmt.Sprintf("%s %s = %s", name, typ, plainText(u))
	}
	if path, ok := s.packagePath(name); ok {
		return fmt.Sprintf("package %s // import %q", name, path)
	}
	s.mu.Lock()
	declared := s.globals[name]
	s.mu.Unlock()
	if declared {
		return name + ": declared in an earlier cell (function or type)"
	}
	for _, b := range goBuiltins() {
		if b == name {
			return name + ": predeclared identifier (builtin)"
		}
	}
	return ""
}

// describeSymbol describes a compiled package symbol as yaegi stores it:
// a function value, a pointer to a variable, a nil pointer to a type, or a
// constant.Value.
func describeSymbol(full string, v reflect.Value) string {
	if !v.IsValid() {
		return ""
	}
	if c, ok := v.Interface().(constant.Value); ok {
		return fmt.Sprintf("const %s = %s", full, c.ExactString())
	}
	if v.CanAddr() { // yaegi exports variables as addressable values
		return fmt.Sprintf("var %s %s", full, v.Type())
	}
	switch v.Kind() {
	case reflect.Func:
		return fmt.Sprintf("func %s%s", full, strings.TrimPrefix(v.Type().String(), "func"))
	case reflect.Pointer:
		if v.IsNil() {
			t := v.Type().Elem()
			return fmt.Sprintf("type %s %s", full, underlying(t))
		}
		return fmt.Sprintf("var %s %s", full, v.Type().Elem())
	}
	return fmt.Sprintf("%s %s", full, v.Type())
}

// underlying spells a type's structure, e.g. "interface { String() string }".
func underlying(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Interface:
		var ms []string
		for i := 0; i < t.NumMethod(); i++ {
			m := t.Method(i)
			ms = append(ms, m.Name+strings.TrimPrefix(m.Type.String(), "func"))
		}
		if len(ms) == 0 {
			return "interface {}"
		}
		return "interface { " + strings.Join(ms, "; ") + " }"
	case reflect.Struct:
		var fs []string
		for i := 0; i < t.NumField(); i++ {
			if f := t.Field(i); f.IsExported() {
				fs = append(fs, f.Name+" "+f.Type.String())
			}
		}
		return "struct { " + strings.Join(fs, "; ") + " }"
	}
	return t.Kind().String()
}
