package registry

import (
	"errors"
	"fmt"
	"math"
	"reflect"
)

var (
	errorType    = reflect.TypeFor[error]()
	objectIDType = reflect.TypeFor[ObjectID]()
)

// call calls f with args and folds its results: (T, error) gives (T, err),
// one result gives it, none gives nil, several give []any. what names the
// call in errors ("FunctionCall: f"), also in the error f returns unless
// f is one of the API's own functions, whose errors already name
// themselves. When objects is not nil, an ObjectID argument is replaced by
// its object unless the parameter is an ObjectID.
//
// Nothing the callee or the arguments do can crash the rank: wrong counts
// and types are errors, and a panic in f is recovered into one.
func call(what string, f reflect.Value, args []any, objects *Registry, own bool) (res any, err error) {
	return callDescribed(what, f, args, objects, own, nil)
}

// callDescribed is call with a PanicDescriber's rendering of a panic
// value (nil: panicText).
func callDescribed(what string, f reflect.Value, args []any, objects *Registry, own bool, describe func(any) string) (res any, err error) {
	if describe == nil {
		describe = panicText
	}
	if !f.IsValid() || f.Kind() != reflect.Func {
		return nil, fmt.Errorf("%s: not a function", what)
	}
	if f.IsNil() {
		return nil, fmt.Errorf("%s: nil function", what)
	}
	in, err := callArgs(what, f.Type(), args, objects)
	if err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("%s: panic: %s", what, describe(r))
		}
	}()
	res, err = results(f.Call(in))
	if err != nil && !own {
		err = fmt.Errorf("%s: %w", what, err)
	}
	return res, err
}

// callArgs checks and converts args for a function of type ft.
func callArgs(what string, ft reflect.Type, args []any, objects *Registry) ([]reflect.Value, error) {
	n := ft.NumIn()
	switch {
	case ft.IsVariadic() && len(args) < n-1:
		return nil, fmt.Errorf("%s: want at least %d argument%s, got %d", what, n-1, plural(n-1), len(args))
	case !ft.IsVariadic() && len(args) != n:
		return nil, fmt.Errorf("%s: want %d argument%s, got %d", what, n, plural(n), len(args))
	}
	in := make([]reflect.Value, len(args))
	for i, a := range args {
		var pt reflect.Type
		if ft.IsVariadic() && i >= n-1 {
			pt = ft.In(n - 1).Elem()
		} else {
			pt = ft.In(i)
		}
		if id, ok := a.(ObjectID); ok && objects != nil && pt != objectIDType {
			obj, err := objects.Get(id)
			if err != nil {
				return nil, fmt.Errorf("%s: argument %d: %w", what, i+1, err)
			}
			a = obj
		}
		v, err := convert(a, pt)
		if err != nil {
			return nil, fmt.Errorf("%s: argument %d: %w", what, i+1, err)
		}
		in[i] = v
	}
	return in, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// convert makes a value of type t from a, as Go would assign it, and also
// where Go would convert an untyped constant: arguments arrive as int,
// float64, … whatever the parameter, so the number 3 must fit a float64 or
// an int32 parameter, and 3.0 an int one; 3.5 does not fit an int, 300 does
// not fit an int8, and a string never becomes a number.
func convert(a any, t reflect.Type) (reflect.Value, error) {
	if a == nil {
		switch t.Kind() {
		case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map, reflect.Chan, reflect.Func, reflect.UnsafePointer:
			return reflect.Zero(t), nil
		}
		return reflect.Value{}, fmt.Errorf("cannot use nil as %v", t)
	}
	v := reflect.ValueOf(a)
	if v.Type().AssignableTo(t) {
		return v, nil
	}
	if c, ok := convertNumber(v, t); ok {
		return c, nil
	}
	if (v.Kind() == reflect.String && t.Kind() == reflect.String) || (v.Kind() == reflect.Bool && t.Kind() == reflect.Bool) {
		return v.Convert(t), nil
	}
	return reflect.Value{}, fmt.Errorf("cannot use %s as %v", describe(v), t)
}

// describe renders a value for an error message, shortened.
func describe(v reflect.Value) string {
	s := fmt.Sprintf("%#v", v.Interface())
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return fmt.Sprintf("%s (%v)", s, v.Type())
}

// convertNumber converts between numeric kinds when the value is exactly
// representable in t.
func convertNumber(v reflect.Value, t reflect.Type) (reflect.Value, bool) {
	if !isNumber(v.Kind()) || !isNumber(t.Kind()) {
		return reflect.Value{}, false
	}
	out := reflect.New(t).Elem()
	switch {
	case isComplex(v.Kind()) && !isComplex(t.Kind()):
		c := v.Complex()
		if imag(c) != 0 {
			return reflect.Value{}, false
		}
		return convertNumber(reflect.ValueOf(real(c)), t)
	case isComplex(t.Kind()):
		switch {
		case isComplex(v.Kind()):
			out.SetComplex(v.Complex())
		case isFloat(v.Kind()):
			out.SetComplex(complex(v.Float(), 0))
		case isSigned(v.Kind()):
			out.SetComplex(complex(float64(v.Int()), 0))
		default:
			out.SetComplex(complex(float64(v.Uint()), 0))
		}
		return out, true
	case isFloat(t.Kind()):
		var f float64
		switch {
		case isFloat(v.Kind()):
			f = v.Float()
		case isSigned(v.Kind()):
			f = float64(v.Int())
		default:
			f = float64(v.Uint())
		}
		if out.OverflowFloat(f) {
			return reflect.Value{}, false
		}
		out.SetFloat(f)
		return out, true
	}
	// t is an integer kind.
	switch {
	case isFloat(v.Kind()):
		f := v.Float()
		if f != math.Trunc(f) || math.IsInf(f, 0) {
			return reflect.Value{}, false
		}
		if isSigned(t.Kind()) {
			if f < -(1<<63) || f >= 1<<63 || out.OverflowInt(int64(f)) {
				return reflect.Value{}, false
			}
			out.SetInt(int64(f))
			return out, true
		}
		if f < 0 || f >= 1<<64 || out.OverflowUint(uint64(f)) {
			return reflect.Value{}, false
		}
		out.SetUint(uint64(f))
		return out, true
	case isSigned(v.Kind()):
		i := v.Int()
		if isSigned(t.Kind()) {
			if out.OverflowInt(i) {
				return reflect.Value{}, false
			}
			out.SetInt(i)
			return out, true
		}
		if i < 0 || out.OverflowUint(uint64(i)) {
			return reflect.Value{}, false
		}
		out.SetUint(uint64(i))
		return out, true
	default:
		u := v.Uint()
		if isSigned(t.Kind()) {
			if u > math.MaxInt64 || out.OverflowInt(int64(u)) {
				return reflect.Value{}, false
			}
			out.SetInt(int64(u))
			return out, true
		}
		if out.OverflowUint(u) {
			return reflect.Value{}, false
		}
		out.SetUint(u)
		return out, true
	}
}

func isNumber(k reflect.Kind) bool {
	return isSigned(k) || isUnsigned(k) || isFloat(k) || isComplex(k)
}

func isSigned(k reflect.Kind) bool {
	return k >= reflect.Int && k <= reflect.Int64
}

func isUnsigned(k reflect.Kind) bool {
	return k >= reflect.Uint && k <= reflect.Uintptr
}

func isFloat(k reflect.Kind) bool { return k == reflect.Float32 || k == reflect.Float64 }

func isComplex(k reflect.Kind) bool { return k == reflect.Complex64 || k == reflect.Complex128 }

// results folds a call's results (see call).
func results(out []reflect.Value) (any, error) {
	var err error
	if n := len(out); n > 0 && out[n-1].Type() == errorType {
		if e := out[n-1]; !e.IsNil() {
			err = e.Interface().(error)
		}
		out = out[:n-1]
	}
	switch len(out) {
	case 0:
		return nil, err
	case 1:
		return valueOf(out[0]), err
	}
	all := make([]any, len(out))
	for i, v := range out {
		all[i] = valueOf(v)
	}
	return all, err
}

// valueOf returns the value inside v; an interface result gives its
// dynamic value (nil for a nil interface).
func valueOf(v reflect.Value) any {
	if !v.IsValid() || !v.CanInterface() {
		return nil
	}
	return v.Interface()
}

// errNoResult is returned when a function whose result is to be managed has
// none.
var errNoResult = errors.New("no result to manage")

// PanicDescriber is optionally implemented by a Resolver that renders a
// panic value as Go prints it after "panic: ". The interpreter session
// does: yaegi panics with a reflect.Value, and values of types declared in
// cells have their Error and String methods only inside the interpreter.
type PanicDescriber interface {
	PanicText(r any) string
}

// reflectValueType is the type of the panic values yaegi raises.
var reflectValueType = reflect.TypeFor[reflect.Value]()

// panicText renders a panic value of compiled code: the text of an
// error, the String of a fmt.Stringer, %v of the rest, looking inside a
// reflect.Value (fmt would print "<error Value>" for one holding an
// error).
func panicText(r any) string {
	v := reflect.ValueOf(r)
	for i := 0; i < 8 && v.IsValid() && v.Type() == reflectValueType; i++ {
		v = v.Interface().(reflect.Value)
		for v.IsValid() && v.Kind() == reflect.Interface && !v.IsNil() {
			v = v.Elem()
		}
	}
	if !v.IsValid() || !v.CanInterface() {
		return fmt.Sprint(r)
	}
	switch x := v.Interface().(type) {
	case error:
		return x.Error()
	case fmt.Stringer:
		return x.String()
	default:
		return fmt.Sprint(x)
	}
}
