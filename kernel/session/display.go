package session

import (
	"context"
	"go/ast"
	"go/token"
	"reflect"
	"sort"

	"github.com/gompi-kernel/gompi-kernel/kernel/display"
)

// A cell's final expression statement is shown, IPython-like, when it has a
// value: any expression that is not a call, a conversion, a call of a
// function with exactly one result. Calls of functions with no result or
// several results (fmt.Println returns (int, error)) are not shown — that
// is what a Go programmer writing such a call as a statement means.

// displayMIME maps the methods a value may have to render itself to their
// MIME types ("" for other names). String gives text/plain.
func displayMIME(method string) string {
	if method == "String" {
		return "text/plain"
	}
	return display.MethodMIME(method)
}

// finalSource returns the source that evaluates a cell's final expression
// chunk, and whether its value is to be shown (then the source stores it in
// resultVar).
//
// Whether an expression has a value is decided from the AST, except for the
// number of results of a called function: builtins and conversions are
// known from the syntax and a function literal from its type, while a named
// function or method (f, pkg.F, x.M, a[i].M) is evaluated by the interpreter
// to a func value, without calling it, whose type tells. For a method of a
// computed receiver (time.Now().Unix(), T{}.M()) the receiver is evaluated
// once into a hidden variable first, then its method is looked at and
// called; the receiver is not addressable in such expressions, so the copy
// changes nothing.
func (s *Session) finalSource(ctx context.Context, c chunk) (src string, show bool, e *Error) {
	plainSrc := lineDirective(yaegiFile, c.line, c.col) + c.text
	text := func(n ast.Node) string { return c.cell[c.offset(n.Pos()):c.offset(n.End())] }
	at := func(p token.Pos) string {
		line, col := lineCol(c.cell, c.offset(p))
		return lineDirective(yaegiFile, line, col)
	}
	store := resultVar + " := "

	call, ok := ast.Unparen(c.expr).(*ast.CallExpr)
	if !ok {
		return store + plainSrc, true, nil
	}
	switch fun := ast.Unparen(call.Fun).(type) {
	case *ast.ArrayType, *ast.MapType, *ast.ChanType, *ast.FuncType, *ast.InterfaceType, *ast.StructType, *ast.StarExpr:
		return store + plainSrc, true, nil // conversion
	case *ast.FuncLit:
		if fun.Type.Results.NumFields() == 1 {
			return store + plainSrc, true, nil
		}
		return plainSrc, false, nil
	case *ast.Ident:
		s.mu.Lock()
		global := s.globals[fun.Name]
		s.mu.Unlock()
		if show, known := builtinShows(fun.Name); known && !global && fun.Obj == nil { //nolint:staticcheck // parser resolution
			if show {
				return store + plainSrc, true, nil
			}
			return plainSrc, false, nil
		}
	case *ast.SelectorExpr:
		if !isRef(fun.X) {
			// Hoist the receiver.
			if _, e := s.eval(ctx, receiverVar+" := "+at(fun.X.Pos())+text(fun.X)); e != nil {
				return "", false, e
			}
			callSrc := receiverVar + "." + fun.Sel.Name + at(call.Lparen) + c.cell[c.offset(call.Lparen):c.offset(call.End())]
			if s.singleResult(ctx, receiverVar+"."+fun.Sel.Name) {
				return store + callSrc, true, nil
			}
			return callSrc, false, nil
		}
	}
	if isRef(call.Fun) && s.singleResult(ctx, at(call.Fun.Pos())+text(call.Fun)) {
		return store + plainSrc, true, nil
	}
	return plainSrc, false, nil
}

// singleResult evaluates a reference to a function and tells whether it has
// exactly one result. A reference to a type (a conversion) counts as one; a
// reference that fails to evaluate counts as none, and running the call
// reports the problem.
func (s *Session) singleResult(ctx context.Context, ref string) bool {
	v, err := s.eval(ctx, ref)
	if err != nil {
		return false
	}
	v = unwrapInterp(v)
	if !v.IsValid() || v.Kind() != reflect.Func {
		return true
	}
	return v.Type().NumOut() == 1
}

// receiverVar is the hidden global holding a hoisted receiver.
const receiverVar = "__gompiReceiver"

// isRef tells whether evaluating e alone has no effect but a possible
// panic: names, selectors, dereferences and indexing by such or literals.
func isRef(e ast.Expr) bool {
	switch e := e.(type) {
	case *ast.Ident, *ast.BasicLit:
		return true
	case *ast.ParenExpr:
		return isRef(e.X)
	case *ast.SelectorExpr:
		return isRef(e.X)
	case *ast.StarExpr:
		return isRef(e.X)
	case *ast.IndexExpr:
		return isRef(e.X) && isRef(e.Index)
	}
	return false
}

// builtinShows tells whether a call of a predeclared name has a value.
func builtinShows(name string) (show, known bool) {
	switch name {
	case "print", "println", "panic", "close", "delete", "copy", "clear":
		return false, true
	case "len", "cap", "append", "complex", "real", "imag", "new", "make", "recover", "min", "max",
		"bool", "byte", "rune", "string", "error", "any", "uintptr",
		"int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64",
		"float32", "float64", "complex64", "complex128":
		return true, true
	}
	return false, false
}

// display builds the MIME bundle of a final expression's value, which is
// also held by resultVar in the interpreter.
//
// A compiled value gets what package display gives it (display.Value shows
// the same bundle): its display methods on T or *T, images and plots as
// PNG, gonum matrices as aligned text. yaegi gives interpreted types no
// reflect methods, so their display methods are called through the
// interpreter (resultVar.HTML()), and only for method names some cell
// declared.
func (s *Session) display(ctx context.Context, v reflect.Value) map[string]any {
	v = unwrapInterp(v)
	var data map[string]any
	if v.IsValid() && v.CanInterface() {
		data = display.Bundle(v.Interface())
	} else {
		data = map[string]any{"text/plain": plainText(v)}
	}
	s.mu.Lock()
	var methods []string
	for m := range s.displayMethods {
		methods = append(methods, m)
	}
	s.mu.Unlock()
	sort.Strings(methods)
	for _, m := range methods {
		r, err := s.eval(ctx, resultVar+"."+m+"()")
		if err != nil {
			continue // this value's type has no such method
		}
		r = unwrapInterp(r)
		if m == "String" {
			if r.IsValid() && r.Kind() == reflect.String {
				data["text/plain"] = r.String()
			}
			continue
		}
		display.AddMethodResult(data, m, r)
	}
	if text, ok := data["text/plain"].(string); ok {
		data["text/plain"] = s.NameTypes(text) // a reflect.Type, a %T string
	}
	return data
}

// plainText is the text/plain form: strings quoted (%q), gonum matrices as
// aligned rows, the rest %v.
func plainText(v reflect.Value) string { return display.PlainText(v) }

// unwrapInterp returns the concrete value inside interfaces, including
// yaegi's valueInterface, the form interpreted values take inside interface
// values.
func unwrapInterp(v reflect.Value) reflect.Value {
	for i := 0; i < 8 && v.IsValid(); i++ {
		switch {
		case v.Kind() == reflect.Interface:
			if v.IsNil() {
				return reflect.Value{}
			}
			v = v.Elem()
		case v.Kind() == reflect.Struct && v.Type().Name() == "valueInterface" &&
			v.Type().PkgPath() == "github.com/traefik/yaegi/interp":
			c := reflect.New(v.Type()).Elem()
			c.Set(v)
			inner := field(c, "value")
			if !inner.IsValid() {
				return v
			}
			iv, ok := inner.Interface().(reflect.Value)
			if !ok {
				return v
			}
			v = iv
		default:
			return v
		}
	}
	return v
}
