package registry

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/gompi-kernel/gompi-kernel/internal/exports"
)

// Resolver finds functions and methods by name. Go cannot send a function
// to another process, but every rank holds the same interpreter state, so
// a function is named and each rank resolves the name locally. The
// interpreter session implements it: functions and func-valued globals
// declared in cells, pkg.Name of packages, and methods of types declared in
// cells, which yaegi gives no reflect methods.
type Resolver interface {
	Func(name string) (reflect.Value, error)
	Method(obj any, name string) (reflect.Value, error)
}

// TypeNamer is optionally implemented by a Resolver that spells the types
// of objects as the user declared them: the interpreter session names a
// type declared in a cell ("*Part") where %T shows yaegi's representation
// ("*struct { Xlo int; Xdata []float64 }"). Info uses it.
type TypeNamer interface {
	TypeName(v any) string
}

// Runner runs code on this rank as a cell would (pyMOR's run_code and
// import_module). ctx interrupts it.
type Runner interface {
	RunCode(ctx context.Context, code string) error
	ImportModule(ctx context.Context, path string) error
}

// Guard is optionally implemented by a Resolver whose functions cannot be
// stopped by cancelling a context on their own (interpreted code is stopped
// by its interpreter, not by a plain reflect call): Guard runs f so that
// cancelling ctx stops the interpreted code f calls, and returns ctx's error
// then. f itself never panics.
type Guard interface {
	Guard(ctx context.Context, f func()) error
}

// API is the rank-local half of the pyMOR API offered to cells (package
// "gompi/mpi", next to Rank, Size and the collectives) and run by Call on
// every rank through Invoke. Errors name the call ("MethodCall:
// ObjectID(3).Norm: …"); the kernel adds the rank.
type API struct {
	reg  *Registry
	info func() string

	mu  sync.Mutex // guards what follows
	res Resolver
	run Runner
	ctx context.Context
}

// NewAPI returns the API over reg, resolving names with res and running code
// with run (both may be nil and set later with SetInterpreter). info returns this rank's line for Info (rank, host, pid,
// versions); nil gives an empty line.
func NewAPI(reg *Registry, res Resolver, run Runner, info func() string) *API {
	if info == nil {
		info = func() string { return "" }
	}
	return &API{reg: reg, res: res, run: run, info: info, ctx: context.Background()}
}

// SetInterpreter sets the Resolver and Runner after NewAPI: the
// interpreter session is built with the API's Symbols, so it exists only
// after the API.
func (a *API) SetInterpreter(res Resolver, run Runner) {
	a.mu.Lock()
	a.res, a.run = res, run
	a.mu.Unlock()
}

func (a *API) interp() (Resolver, Runner) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.res, a.run
}

// Bind sets the context that RunCode, ImportModule and calls of interpreted
// functions obey: the running cell's, or the running Call's on a worker.
// A nil ctx means no cancellation.
func (a *API) Bind(ctx context.Context) {
	if ctx == nil {
		ctx = context.Background()
	}
	a.mu.Lock()
	a.ctx = ctx
	a.mu.Unlock()
}

func (a *API) context() context.Context {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ctx
}

// Registry is the registry the API manages objects in.
func (a *API) Registry() *Registry { return a.reg }

// ManageObject keeps obj and returns its id (pyMOR's manage_object). Call
// it in the same order on every rank so that the ids agree.
func (a *API) ManageObject(obj any) ObjectID { return a.reg.Manage(obj) }

// GetObject returns this rank's object for id.
func (a *API) GetObject(id ObjectID) (any, error) {
	obj, err := a.reg.Get(id)
	if err != nil {
		return nil, fmt.Errorf("GetObject: %w", err)
	}
	return obj, nil
}

// RemoveObject forgets this rank's object for id.
func (a *API) RemoveObject(id ObjectID) error {
	if err := a.reg.Remove(id); err != nil {
		return fmt.Errorf("RemoveObject: %w", err)
	}
	return nil
}

// FunctionCall calls the function named fn with args, an ObjectID argument
// standing for its object unless the parameter is an ObjectID, and returns
// its result (see the package README for how results are folded).
func (a *API) FunctionCall(fn string, args ...any) (any, error) {
	what := "FunctionCall: " + fn
	f, err := a.resolveFunc(what, fn)
	if err != nil {
		return nil, err
	}
	return a.guarded(what, f, args, a.reg)
}

// FunctionCallManage is FunctionCall that manages the result and returns
// its id.
func (a *API) FunctionCallManage(fn string, args ...any) (ObjectID, error) {
	what := "FunctionCallManage: " + fn
	f, err := a.resolveFunc(what, fn)
	if err != nil {
		return 0, err
	}
	return a.manage(what, f, args)
}

// MethodCall calls the method named method of the object for id.
func (a *API) MethodCall(id ObjectID, method string, args ...any) (any, error) {
	what := fmt.Sprintf("MethodCall: %v.%s", id, method)
	m, err := a.resolveMethod(what, id, method)
	if err != nil {
		return nil, err
	}
	return a.guarded(what, m, args, a.reg)
}

// MethodCallManage is MethodCall that manages the result and returns its
// id.
func (a *API) MethodCallManage(id ObjectID, method string, args ...any) (ObjectID, error) {
	what := fmt.Sprintf("MethodCallManage: %v.%s", id, method)
	m, err := a.resolveMethod(what, id, method)
	if err != nil {
		return 0, err
	}
	return a.manage(what, m, args)
}

// RunCode runs code on this rank as a cell (pyMOR's run_code).
func (a *API) RunCode(code string) error {
	_, run := a.interp()
	if run == nil {
		return fmt.Errorf("RunCode: no interpreter")
	}
	if err := run.RunCode(a.context(), code); err != nil {
		return fmt.Errorf("RunCode: %w", err)
	}
	return nil
}

// ImportModule imports the package at path into the cells' scope on this
// rank (pyMOR's import_module).
func (a *API) ImportModule(path string) error {
	_, run := a.interp()
	if run == nil {
		return fmt.Errorf("ImportModule: no interpreter")
	}
	if err := run.ImportModule(a.context(), path); err != nil {
		return fmt.Errorf("ImportModule %s: %w", path, err)
	}
	return nil
}

// Info is this rank's line: the info function's text and the managed
// objects.
func (a *API) Info() string {
	var b strings.Builder
	b.WriteString(a.info())
	list := a.reg.List()
	if res, _ := a.interp(); res != nil {
		if n, ok := res.(TypeNamer); ok {
			list = a.reg.listNamed(n.TypeName)
		}
	}
	if b.Len() > 0 {
		b.WriteString("; ")
	}
	fmt.Fprintf(&b, "%d managed object%s", len(list), plural(len(list)))
	for i, e := range list {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString(", ")
		}
		if i == 20 {
			fmt.Fprintf(&b, "…")
			break
		}
		fmt.Fprintf(&b, "%v %s", e.ID, e.Type)
	}
	return b.String()
}

// builtin tells whether Invoke runs name as a method of the API.
func builtin(name string) bool {
	switch name {
	case "ManageObject", "GetObject", "RemoveObject", "FunctionCall", "FunctionCallManage",
		"MethodCall", "MethodCallManage", "RunCode", "ImportModule", "Info":
		return true
	}
	return false
}

// Invoke is what Call runs on every rank: fn is one of the API's own
// functions ("FunctionCall", "MethodCallManage", "RunCode", "ManageObject",
// …) or else the name of a function the Resolver finds. Arguments are passed
// as they are, as pyMOR's call does: only FunctionCall and friends map
// ObjectIDs to objects.
func (a *API) Invoke(fn string, args []any) (any, error) {
	if builtin(fn) {
		m := reflect.ValueOf(a).MethodByName(fn)
		return call(fn, m, args, nil, true)
	}
	f, err := a.resolveFunc(fn, fn)
	if err != nil {
		return nil, err
	}
	return a.guarded(fn, f, args, nil)
}

// Symbols returns the API as the interpreter wants a package: the cell-side
// methods bound to a, and the ObjectID type. The kernel merges it into
// package "gompi/mpi". Invoke, Symbols, Bind, SetInterpreter and Registry
// are the kernel's;
// Info is left to the kernel, whose Info covers every rank.
func (a *API) Symbols() map[string]reflect.Value {
	return exports.With(exports.Methods(a, "Invoke", "Symbols", "Bind", "Registry", "Info", "SetInterpreter"),
		map[string]reflect.Value{"ObjectID": reflect.ValueOf((*ObjectID)(nil))})
}

func (a *API) resolveFunc(what, name string) (reflect.Value, error) {
	res, _ := a.interp()
	if res == nil {
		return reflect.Value{}, fmt.Errorf("%s: no interpreter", what)
	}
	f, err := res.Func(name)
	if err != nil {
		return reflect.Value{}, fmt.Errorf("%s: %w", what, err)
	}
	return f, nil
}

func (a *API) resolveMethod(what string, id ObjectID, name string) (reflect.Value, error) {
	obj, err := a.reg.Get(id)
	if err != nil {
		return reflect.Value{}, fmt.Errorf("%s: %w", what, err)
	}
	res, _ := a.interp()
	if res == nil {
		return reflect.Value{}, fmt.Errorf("%s: no interpreter", what)
	}
	m, err := res.Method(obj, name)
	if err != nil {
		return reflect.Value{}, fmt.Errorf("%s: %w", what, err)
	}
	return m, nil
}

// guarded calls f through the Resolver's Guard when it has one, so that an
// interrupt stops interpreted code.
func (a *API) guarded(what string, f reflect.Value, args []any, objects *Registry) (any, error) {
	r, _ := a.interp()
	g, ok := r.(Guard)
	if !ok {
		return call(what, f, args, objects, false)
	}
	// On an interrupt Guard returns while f may still be finishing in the
	// background: f writes only its own variables, read after a clean end.
	var res any
	var err error
	var describe func(any) string
	if d, ok := r.(PanicDescriber); ok {
		describe = d.PanicText
	}
	if gerr := g.Guard(a.context(), func() { res, err = callDescribed(what, f, args, objects, false, describe) }); gerr != nil {
		return nil, fmt.Errorf("%s: %w", what, gerr)
	}
	return res, err
}

func (a *API) manage(what string, f reflect.Value, args []any) (ObjectID, error) {
	if f.IsValid() && f.Kind() == reflect.Func {
		if t := f.Type(); t.NumOut() == 0 || (t.NumOut() == 1 && t.Out(0) == errorType) {
			return 0, fmt.Errorf("%s: %w", what, errNoResult)
		}
	}
	res, err := a.guarded(what, f, args, a.reg)
	if err != nil {
		return 0, err
	}
	return a.reg.Manage(res), nil
}
