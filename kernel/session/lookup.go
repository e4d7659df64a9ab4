package session

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"sort"
	"strings"
	"time"
)

// This file makes a Session the registry's Resolver, Guard and Runner: the
// pyMOR-style API (FunctionCall, MethodCall, RunCode, …) names functions,
// methods and code, and every rank finds them in its own interpreter.
//
// These methods are called in two situations, told apart by the run lock:
//
//   - by a cell, through the API's package (a driver cell calling Call, or
//     mpi.FunctionCall in any cell): Execute holds the run lock, and the
//     interpreter is inside that cell's execution. The lookups run on the
//     spot; nested code must not take the lock (deadlock) nor start a
//     second ExecuteWithContext (it would replace the channel the cell's
//     interrupt closes). An interrupted cell waits until its code, nested
//     runs included, has stopped (runChunk).
//   - by the kernel between cells (a worker serving Call): the lock is free
//     and is held for the work, so that no cell starts meanwhile.
//
// Goroutines that outlive their cell and call the API while a later cell
// runs are taken for the nested case; they race with that cell as any
// such goroutine does.

// enter takes the run lock if it is free. It returns whether it did (then
// the caller must call s.run.Unlock); false means a cell is running and the
// caller is part of it.
func (s *Session) enter() bool { return s.run.TryLock() }

// Func finds the function named name: a function or a func-valued global
// declared by a cell, or pkg.Name of a package the cells imported or can
// import. Only names are accepted, never expressions to evaluate.
func (s *Session) Func(name string) (reflect.Value, error) {
	if s.enter() {
		defer s.run.Unlock()
	}
	expr, err := parser.ParseExpr(name)
	if err != nil {
		return reflect.Value{}, fmt.Errorf("%q is not a function name", name)
	}
	switch e := expr.(type) {
	case *ast.Ident:
	case *ast.SelectorExpr:
		x, ok := e.X.(*ast.Ident)
		if !ok {
			return reflect.Value{}, fmt.Errorf("%q is not a function name (want f or pkg.F)", name)
		}
		if f, ok, err := s.packageFunc(x.Name, e.Sel.Name); ok {
			return f, err
		}
	default:
		return reflect.Value{}, fmt.Errorf("%q is not a function name (want f or pkg.F)", name)
	}
	v, err := s.lookupEval(name)
	if err != nil {
		return reflect.Value{}, fmt.Errorf("no function %s on this rank: %w", name, err)
	}
	v = unwrapInterp(v)
	if !v.IsValid() || v.Kind() != reflect.Func {
		return reflect.Value{}, fmt.Errorf("%s is not a function (it is %s)", name, s.NameTypes(kindOf(v)))
	}
	if v.IsNil() {
		return reflect.Value{}, fmt.Errorf("%s is a nil function", name)
	}
	return v, nil
}

// packageFunc finds pkg.name in a package the cells did not import (ok is
// false when pkg is imported or is a name of the cells: the interpreter
// then knows best). The package is not imported as a side effect: a call by
// name must not change what later cells see.
func (s *Session) packageFunc(pkg, name string) (f reflect.Value, ok bool, err error) {
	s.mu.Lock()
	_, imported := s.imported[pkg]
	ipath, known := s.pkgs.byName[pkg]
	ip := s.ip
	shadowed := s.globals[pkg]
	s.mu.Unlock()
	if imported || shadowed || !known {
		return reflect.Value{}, false, nil
	}
	// The interpreter's own table holds the session's overrides
	// (time.Sleep that obeys interrupts, os.Exit that ends the cell).
	v, found := ip.Symbols(ipath)[ipath][name]
	if !found {
		return reflect.Value{}, true, fmt.Errorf("no function %s in package %s", name, ipath)
	}
	if v.Kind() != reflect.Func {
		return reflect.Value{}, true, fmt.Errorf("%s.%s is not a function (it is %s)", pkg, name, kindOf(v))
	}
	return v, true, nil
}

// kindOf describes a value in "is not a function" errors.
func kindOf(v reflect.Value) string {
	if !v.IsValid() {
		return "nil"
	}
	return "a " + v.Type().String()
}

// Method finds the method called name of obj, bound to obj. Compiled types
// answer by reflection. Types declared in cells have no reflect methods in
// yaegi, so the interpreter finds the cell type T whose representation obj
// has, and a hidden interpreted function func(x *T) any { return x.name }
// turns obj into the method value. (yaegi evaluates a method expression
// (*T).name to a function that has lost its receiver parameter, hence the
// helper.)
func (s *Session) Method(obj any, name string) (reflect.Value, error) {
	if !token.IsIdentifier(name) {
		return reflect.Value{}, fmt.Errorf("%q is not a method name", name)
	}
	v := unwrapInterp(reflect.ValueOf(obj))
	if !v.IsValid() {
		return reflect.Value{}, fmt.Errorf("no method %s: the object is nil", name)
	}
	if m := v.MethodByName(name); m.IsValid() {
		return m, nil
	}
	if s.enter() {
		defer s.run.Unlock()
	}
	types := s.cellTypesOf(v.Type())
	var found []cellType
	for _, t := range types {
		if _, err := s.lookupEval(t.methodExpr(name)); err == nil {
			found = append(found, t)
		}
	}
	switch {
	case len(found) == 1:
		return s.methodValue(found[0], name, v)
	case len(found) > 1:
		return reflect.Value{}, fmt.Errorf("method %s: the object could be any of %s, which yaegi represents alike "+
			"(same fields); give them different fields or the methods different names", name, joinTypes(found, ", "))
	case len(types) > 0:
		return reflect.Value{}, fmt.Errorf("%s has no method %s", joinTypes(types, " or "), name)
	}
	return reflect.Value{}, fmt.Errorf("%s has no method %s", s.TypeName(obj), name)
}

// methodValue binds the method name of t to recv through the hidden
// helper.
func (s *Session) methodValue(t cellType, name string, recv reflect.Value) (reflect.Value, error) {
	h, err := s.methodHelper(t, name, recv.Type())
	if err != nil {
		return reflect.Value{}, err
	}
	var m reflect.Value
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("method %s of %s: %s", name, t, s.panicText(r, false))
			}
		}()
		m = unwrapInterp(h.Call([]reflect.Value{recv})[0])
	}()
	if err != nil {
		return reflect.Value{}, err
	}
	if !m.IsValid() || m.Kind() != reflect.Func {
		return reflect.Value{}, fmt.Errorf("method %s of %s: the interpreter gave %s", name, t, kindOf(m))
	}
	return m, nil
}

// methodHelper returns the hidden interpreted function
// func(x T) any { return x.name } for receivers of reflect type rt,
// declaring it when it is missing or was declared for an earlier
// definition of t.
func (s *Session) methodHelper(t cellType, name string, rt reflect.Type) (reflect.Value, error) {
	kind := "V"
	if t.ptr {
		kind = "P"
	}
	// The helper's name holds when t was declared: a type declared again
	// with the same fields has the same reflect type, but new methods.
	s.mu.Lock()
	gen := s.declOrder[t.name]
	s.mu.Unlock()
	helper := fmt.Sprintf("__gompiMethod%s%d%s%d%s%d", kind, len(t.name), t.name, len(name), name, gen)
	h, err := s.lookupEval(helper)
	h = unwrapInterp(h)
	if err != nil || h.Kind() != reflect.Func || h.Type().NumIn() != 1 || h.Type().In(0) != rt {
		s.mu.Lock()
		ip := s.ip
		s.mu.Unlock()
		src := fmt.Sprintf("func %s(x %s) any { return x.%s }", helper, t, name)
		if _, err := ip.Eval(src); err != nil {
			return reflect.Value{}, fmt.Errorf("method %s of %s: %w", name, t, err)
		}
		if h, err = s.lookupEval(helper); err != nil {
			return reflect.Value{}, fmt.Errorf("method %s of %s: %w", name, t, err)
		}
		h = unwrapInterp(h)
	}
	if h.Kind() != reflect.Func || h.Type().NumIn() != 1 || h.Type().In(0) != rt {
		return reflect.Value{}, fmt.Errorf("method %s of %s: the interpreter gave a %v", name, t, h.Type())
	}
	return h, nil
}

func joinTypes(ts []cellType, sep string) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.String()
	}
	return strings.Join(s, sep)
}

// cellType is a type declared by a cell, and whether obj is a pointer to it.
type cellType struct {
	name string
	ptr  bool
}

func (t cellType) String() string {
	if t.ptr {
		return "*" + t.name
	}
	return t.name
}

// methodExpr is the method expression of the method name on t; it
// compiles only if t has the method.
func (t cellType) methodExpr(name string) string {
	if t.ptr {
		return "(*" + t.name + ")." + name
	}
	return t.name + "." + name
}

// cellTypesOf returns the types declared by cells whose values have
// reflect type rt, or whose pointers do. yaegi represents a cell's struct
// type by an unnamed reflect.StructOf, so types with the same fields share
// it; each global is tried as a type name, (*T)(nil) tells.
func (s *Session) cellTypesOf(rt reflect.Type) []cellType {
	s.mu.Lock()
	names := make([]string, 0, len(s.globals))
	for n := range s.globals {
		if !s.consts[n] && !strings.HasPrefix(n, "__gompi") {
			names = append(names, n)
		}
	}
	s.mu.Unlock()
	sort.Strings(names)
	var out []cellType
	for _, n := range names {
		p, err := s.lookupEval("(*" + n + ")(nil)")
		if err != nil || !p.IsValid() || p.Kind() != reflect.Pointer {
			continue
		}
		switch p.Type() {
		case rt:
			out = append(out, cellType{n, true})
		case reflect.PointerTo(rt):
			out = append(out, cellType{n, false})
		}
	}
	return out
}

// lookupEval evaluates a name or method expression. It uses Execute, not
// ExecuteWithContext: evaluating a name cannot block, and within a running
// cell a second ExecuteWithContext would replace the channel the cell's
// interrupt closes.
func (s *Session) lookupEval(src string) (v reflect.Value, err error) {
	s.mu.Lock()
	ip := s.ip
	s.mu.Unlock()
	prog, err := compile(ip, src)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return v, errors.New(e.Value)
		}
		return v, err
	}
	defer func() {
		if r := recover(); r != nil {
			v, err = reflect.Value{}, fmt.Errorf("interpreter: %v", r)
		}
	}()
	return ip.Execute(prog)
}

// guardVar is the hidden global through which Guard runs a compiled
// function inside an interpreter execution.
const guardVar = "__gompiGuard"

// Guard runs f inside an interpreter execution bound to ctx, so that
// cancelling ctx stops the interpreted code f calls (a plain reflect call
// of an interpreted function is beyond the reach of any context), and
// returns the interruption as an *Error. Within a running cell, f just
// runs: that cell's interrupt reaches it. Output f writes has been
// delivered when Guard returns.
func (s *Session) Guard(ctx context.Context, f func()) error {
	if !s.enter() {
		f()
		return nil
	}
	defer s.run.Unlock()
	s.intr.arm()
	stop := context.AfterFunc(ctx, s.intr.fire) // compiled sleeps obey too
	defer stop()
	defer func() { _ = errors.Join(s.out.sync(), s.errs.sync()) }()
	set, err := s.guardSetter()
	if err != nil {
		return err
	}
	set.Call([]reflect.Value{reflect.ValueOf(f)})
	if _, e := s.eval(ctx, guardVar+"()"); e != nil {
		return e
	}
	return nil
}

// guardSetter returns an interpreted function storing its argument in
// guardVar, declaring both in a fresh interpreter. (A function literal
// evaluates to an unusable value in yaegi; a declared function's name
// evaluates to a callable one.)
func (s *Session) guardSetter() (reflect.Value, error) {
	set, err := s.lookupEval(guardVar + "Set")
	if err != nil {
		s.mu.Lock()
		ip := s.ip
		s.mu.Unlock()
		src := "var " + guardVar + " func()\nfunc " + guardVar + "Set(f func()) { " + guardVar + " = f }"
		if _, err := ip.Eval(src); err != nil {
			return reflect.Value{}, fmt.Errorf("session: guard: %w", err)
		}
		if set, err = s.lookupEval(guardVar + "Set"); err != nil {
			return reflect.Value{}, fmt.Errorf("session: guard: %w", err)
		}
	}
	set = unwrapInterp(set)
	if set.Kind() != reflect.Func {
		return reflect.Value{}, fmt.Errorf("session: guard: setter is %v", set.Kind())
	}
	return set, nil
}

// RunCode runs code as a cell on this rank (pyMOR's run_code): its output
// goes to the session's writers, its value is not shown, and a failure is
// returned as the cell's *Error. Within a running cell it runs nested, and
// that cell's interrupt stops it.
func (s *Session) RunCode(ctx context.Context, code string) error {
	var res Result
	if s.enter() {
		s.run.Unlock()
		res = s.Execute(ctx, code)
	} else {
		res = s.runNested(code)
	}
	if res.Err != nil {
		return res.Err
	}
	return nil
}

// ImportModule imports the package at path into the cells' scope (pyMOR's
// import_module); an import done before is not repeated.
func (s *Session) ImportModule(ctx context.Context, path string) error {
	if path == "" || strings.ContainsAny(path, "\"`\n\\") {
		return fmt.Errorf("%q is not an import path", path)
	}
	return s.RunCode(ctx, importSource("", path))
}

// runNested runs code inside the running cell. Its context never fires
// Done: its chunks run inside the cell's execution (runChunk), which the
// cell's interrupt stops; its Err reports the interrupt, so that the
// nested run ends there rather than going on with its next chunk.
func (s *Session) runNested(code string) (res Result) {
	defer func() {
		if r := recover(); r != nil {
			res = Result{Err: newError(ErrInternal, fmt.Sprintf("session: %v", r), nil)}
		}
	}()
	return s.execute(interruptCtx{s.intr.current()}, code)
}

// interruptCtx is a context whose Err turns context.Canceled once the
// session's interrupter fires, and whose Done is nil (see runNested).
type interruptCtx struct{ fired <-chan struct{} }

func (interruptCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (interruptCtx) Done() <-chan struct{}       { return nil }
func (interruptCtx) Value(any) any               { return nil }

func (c interruptCtx) Err() error {
	select {
	case <-c.fired:
		return context.Canceled
	default:
		return nil
	}
}
