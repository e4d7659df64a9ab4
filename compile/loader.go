package compile

import (
	"context"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"log"
	"maps"
	"os"
	"path"
	"plugin"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/traefik/yaegi/interp"

	"github.com/gompi-kernel/gompi-kernel/kernel/session"
)

// Loader opens plugins on one rank. A process should have one Loader: a
// plugin's package path can be loaded once per process, so the Loader
// remembers what it opened and opens an artifact seen before only once.
type Loader struct {
	dir string // where plugin files are written before plugin.Open

	mu   sync.Mutex
	open map[string]*plugin.Plugin // by artifact key
}

// NewLoader returns a Loader writing plugin files under dir ("" means the
// system's temporary directory). The files are removed once opened.
func NewLoader(dir string) *Loader {
	if dir == "" {
		dir = os.TempDir()
	}
	return &Loader{dir: dir, open: map[string]*plugin.Plugin{}}
}

// Open loads the artifact (from its bytes: nothing is shared between
// ranks but what MPI carries), binds its shims to the kernel's packages
// in shims (the same exports the session was given, so compiled mpi calls
// use this rank's communicator), and returns the symbols for the
// interpreter (session.Use).
func (l *Loader) Open(a *Artifact, shims interp.Exports) (interp.Exports, error) {
	p, err := l.plugin(a)
	if err != nil {
		return nil, err
	}
	symsV, err := p.Lookup("GompiSymbols")
	if err != nil {
		return nil, fmt.Errorf("compile: plugin %s has no symbol table: %w", a.Key[:16], err)
	}
	syms, ok := symsV.(*map[string]map[string]reflect.Value)
	if !ok {
		return nil, fmt.Errorf("compile: plugin %s: symbol table is a %T", a.Key[:16], symsV)
	}
	if v, err := p.Lookup("GompiShims"); err == nil {
		if table, ok := v.(*map[string]map[string]any); ok {
			if err := inject(*table, shims); err != nil {
				return nil, err
			}
		}
	}
	out := make(interp.Exports, len(*syms))
	for k, v := range *syms {
		out[k] = v
	}
	return out, nil
}

func (l *Loader) plugin(a *Artifact) (*plugin.Plugin, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p, ok := l.open[a.Key]; ok {
		return p, nil
	}
	if len(a.Plugin) == 0 {
		return nil, fmt.Errorf("compile: artifact %s carries no plugin", a.Key[:16])
	}
	if err := os.MkdirAll(l.dir, 0o700); err != nil {
		return nil, fmt.Errorf("compile: plugin directory: %w", err)
	}
	f, err := os.CreateTemp(l.dir, "gompi-"+a.Key[:16]+"-*.so")
	if err != nil {
		return nil, fmt.Errorf("compile: write plugin: %w", err)
	}
	name := f.Name()
	defer os.Remove(name) // the mapping outlives the file
	if _, err := f.Write(a.Plugin); err != nil {
		f.Close()
		return nil, fmt.Errorf("compile: write plugin: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("compile: write plugin: %w", err)
	}
	p, err := openPlugin(name)
	if err != nil {
		msg := err.Error()
		if strings.Contains(msg, "different version of package") {
			return nil, fmt.Errorf("compile: this plugin shares a package with one loaded earlier at another version (%s); a loaded package cannot be replaced: restart the kernel", msg)
		}
		return nil, fmt.Errorf("compile: load plugin: %w", err)
	}
	l.open[a.Key] = p
	return p, nil
}

// openPlugin is plugin.Open, with a panic of the plugin's initialization
// (an init function, a package-level initializer) turned into an error:
// the rank lives on; that plugin cannot be loaded again in this process.
func openPlugin(name string) (p *plugin.Plugin, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the compiled code panicked while it was loaded (in an init function or a package-level initializer): %v", r)
		}
	}()
	return plugin.Open(name)
}

// Bind loads an artifact into a session. Its package is added
// (session.Use); for a %%compile cell, its names are then declared in the
// cells' scope by the names the cell gave them (var Step = …, type Grid =
// …), replacing earlier definitions for later cells. Variables are copied
// at this point: later assignments in compiled code and in cells do not
// see each other (slices, maps and pointers share what they point to).
// Third-party packages are imported by the cells themselves.
//
// Bind also points the process's os.Stdout and os.Stderr, and the standard
// logger, at the session's capture pipes: compiled code prints through
// them, and the interpreter cannot rebind them for it. The kernel keeps its
// own writers (taken at start), so only cell output goes there.
func (l *Loader) Bind(ctx context.Context, s *session.Session, a *Artifact, shims interp.Exports) error {
	if _, ok := shims[GuardKey]; !ok {
		// Panics recovered in compiled goroutines are reported by the
		// session they run for.
		shims = maps.Clone(shims)
		if shims == nil {
			shims = interp.Exports{}
		}
		shims[GuardKey] = GuardSymbols(s.GoPanic)
	}
	x, err := l.Open(a, shims)
	if err != nil {
		return err
	}
	if err := s.Use(x); err != nil {
		return err
	}
	os.Stdout, os.Stderr = s.Stdio()
	// The standard logger holds the stderr it was made with: compiled
	// log.Print* went to the kernel's log, not the cell. (The kernel logs
	// through its own slog handlers, never through package log.)
	log.SetOutput(os.Stderr)
	if a.Package == "" {
		return nil
	}
	if res := s.Execute(ctx, a.binding()); res.Err != nil {
		return fmt.Errorf("compile: declaring the compiled names in the session: %s: %s", res.Err.Name, res.Err.Value)
	}
	return nil
}

// MissingImports returns the import paths of a cell's leading imports that
// the session cannot import (has is session.HasPackage): third-party
// packages to build with Builder.Packages before the cell runs. Paths
// without a dot in their first element (standard or kernel packages) are
// never returned.
func MissingImports(code string, has func(string) bool) []string {
	f, err := parser.ParseFile(token.NewFileSet(), "", "package p;"+code, parser.ImportsOnly)
	if err != nil && f == nil {
		return nil
	}
	var out []string
	for _, im := range f.Imports {
		p, err := strconv.Unquote(im.Path.Value)
		if err != nil || !strings.Contains(strings.Split(p, "/")[0], ".") || has(p) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// Main returns a script's func main from its loaded symbols.
func Main(a *Artifact, x interp.Exports) (func(), bool) {
	v, ok := x[a.Package+"/"+path.Base(a.Package)]["main"]
	if !ok || !v.IsValid() {
		return nil, false
	}
	f, ok := v.Interface().(func())
	return f, ok
}

// inject sets every shim variable of a plugin to the kernel's value of
// the same name.
func inject(table map[string]map[string]any, shims interp.Exports) error {
	for host, vars := range table {
		syms := shims[host+"/"+path.Base(host)]
		if syms == nil {
			// Exports may be keyed by a package name other than the
			// path's last element.
			for k, v := range shims {
				if path.Dir(k) == host {
					syms = v
				}
			}
		}
		for name, ptr := range vars {
			dst := reflect.ValueOf(ptr)
			if dst.Kind() != reflect.Pointer || dst.IsNil() {
				continue
			}
			dst = dst.Elem()
			src, ok := syms[name]
			if !ok || !src.IsValid() {
				return fmt.Errorf("compile: compiled code uses %s.%s, which this kernel does not provide", path.Base(host), name)
			}
			v, err := adapt(src, dst.Type())
			if err != nil {
				return fmt.Errorf("compile: binding %s.%s for compiled code: %w", path.Base(host), name, err)
			}
			dst.Set(v)
		}
	}
	return nil
}

// adapt makes v usable as a value of type t, the shim's rendering of v's
// type: identical, convertible, or of the same memory layout (a kernel
// type declared again in the shim). A function is wrapped so that its
// arguments and results are adapted on every call.
func adapt(v reflect.Value, t reflect.Type) (reflect.Value, error) {
	if v.Type() == t || v.Type().AssignableTo(t) {
		return v, nil
	}
	if v.Kind() == reflect.Func && t.Kind() == reflect.Func {
		return adaptFunc(v, t)
	}
	return convert(v, t)
}

func adaptFunc(f reflect.Value, t reflect.Type) (reflect.Value, error) {
	ft := f.Type()
	if ft.NumIn() != t.NumIn() || ft.NumOut() != t.NumOut() || ft.IsVariadic() != t.IsVariadic() {
		return reflect.Value{}, fmt.Errorf("signature %s does not match %s", ft, t)
	}
	return reflect.MakeFunc(t, func(in []reflect.Value) []reflect.Value {
		args := make([]reflect.Value, len(in))
		for i, a := range in {
			c, err := convert(a, ft.In(i))
			if err != nil {
				panic(fmt.Errorf("compiled code calling the kernel: argument %d: %w", i+1, err))
			}
			args[i] = c
		}
		var out []reflect.Value
		if ft.IsVariadic() {
			out = f.CallSlice(args)
		} else {
			out = f.Call(args)
		}
		res := make([]reflect.Value, len(out))
		for i, r := range out {
			c, err := convert(r, t.Out(i))
			if err != nil {
				panic(fmt.Errorf("compiled code calling the kernel: result %d: %w", i+1, err))
			}
			res[i] = c
		}
		return res
	}), nil
}

// convert turns v into a value of type t of the same shape.
func convert(v reflect.Value, t reflect.Type) (reflect.Value, error) {
	switch {
	case v.Type() == t:
		return v, nil
	case v.Type().AssignableTo(t):
		out := reflect.New(t).Elem()
		out.Set(v)
		return out, nil
	case t.Kind() == reflect.Interface:
		if v.Kind() == reflect.Interface {
			if v.IsNil() {
				return reflect.Zero(t), nil
			}
			v = v.Elem()
		}
		if !v.Type().Implements(t) {
			return reflect.Value{}, fmt.Errorf("%s does not implement %s", v.Type(), t)
		}
		out := reflect.New(t).Elem()
		out.Set(v)
		return out, nil
	case v.Type().ConvertibleTo(t) && v.Kind() == t.Kind() && v.Kind() != reflect.Pointer:
		return v.Convert(t), nil
	case v.Type().Size() == t.Size() && v.Kind() == t.Kind():
		// A kernel type and its declaration in the shim: same layout.
		tmp := reflect.New(v.Type())
		tmp.Elem().Set(v)
		return reflect.NewAt(t, tmp.UnsafePointer()).Elem(), nil
	}
	return reflect.Value{}, errors.New("cannot pass a " + v.Type().String() + " as " + t.String())
}
