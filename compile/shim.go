package compile

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"go/ast"
	"go/constant"
	"path"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// A shim is a generated package that compiled code imports in place of a
// package the kernel gives cells ("gompi/mpi", "gompi/display"). Those
// packages are values bound to this rank's communicator and display sink,
// living in the kernel's own main module; a plugin cannot import them (it
// would have to be built from the kernel's exact source). The shim declares
// the same functions, each calling through a function variable that the
// loader sets to the kernel's implementation after plugin.Open. So a
// compiled mpi.Allreduce runs the very code a cell's does: same
// communicator, and an interrupt stops it in the same way.
//
// The shim is generated from the kernel's symbol table by reflection:
// types of the kernel's main module (mpi.Op, mpi.Status, registry.ObjectID)
// are declared again with the same underlying type, standard and
// dependency types are imported. Values of redeclared types are converted
// at the boundary (same memory layout). Its import path carries a hash of
// its source: shims of the same content in several plugins are one package
// to the runtime, different content gets a different path.
type shim struct {
	host string // the import path cells use, e.g. "gompi/mpi"
	name string // the package name, e.g. "mpi"
	path string // the generated import path, e.g. "gompi/shim_1234abcd/mpi"
	src  string
	// skipped lists symbols that could not be expressed (generic types…).
	skipped []string
}

// newShim generates the shim for package host (import path) with symbols
// syms, as the kernel gives them to the interpreter.
func newShim(host, name string, syms map[string]reflect.Value, mainModule string) *shim {
	g := &shimGen{imports: map[string]string{}, local: map[reflect.Type]string{}, taken: map[string]bool{}, mainModule: mainModule, syms: syms}
	names := make([]string, 0, len(syms))
	for n := range syms {
		names = append(names, n)
		g.taken[n] = true
	}
	sort.Strings(names)
	var body strings.Builder
	var inject []string
	var skipped []string
	for _, n := range names {
		v := syms[n]
		if !v.IsValid() || !exported(n) {
			continue
		}
		g.err = nil
		var out strings.Builder
		switch {
		case v.Kind() == reflect.Pointer && v.IsNil() && v.Type().Elem().Name() != "":
			// A type, given as (*T)(nil).
			t := v.Type().Elem()
			expr := g.expr(t)
			if lt, ok := g.local[t]; ok && lt == n {
				break // declared under its own name
			}
			fmt.Fprintf(&out, "type %s = %s\n\n", n, expr)
		case v.Kind() == reflect.Func:
			t := v.Type()
			sig := g.signature(t, true)
			call := make([]string, t.NumIn())
			for i := range call {
				call[i] = "a" + strconv.Itoa(i)
				if t.IsVariadic() && i == t.NumIn()-1 {
					call[i] += "..."
				}
			}
			ret := ""
			if t.NumOut() > 0 {
				ret = "return "
			}
			fmt.Fprintf(&out, "var x_%s func%s\n\n// %s calls the kernel's %s.%s.\nfunc %s%s {\n\tif x_%s == nil {\n\t\tpanic(unbound(%q))\n\t}\n\t%sx_%s(%s)\n}\n\n",
				n, g.signature(t, false), n, name, n, n, sig, n, n, ret, n, strings.Join(call, ", "))
			inject = append(inject, fmt.Sprintf("\t%q: &x_%s,\n", n, n))
		case v.Type().Implements(reflect.TypeOf((*constant.Value)(nil)).Elem()):
			c, _ := v.Interface().(constant.Value)
			lit := constLiteral(c)
			if lit == "" {
				g.err = fmt.Errorf("constant of kind %v", c.Kind())
				break
			}
			fmt.Fprintf(&out, "const %s = %s\n\n", n, lit)
		case v.CanAddr():
			fmt.Fprintf(&out, "// %s is set to the kernel's value when the plugin is loaded.\nvar %s %s\n\n", n, n, g.expr(v.Type()))
			inject = append(inject, fmt.Sprintf("\t%q: &%s,\n", n, n))
		default:
			typ := g.expr(v.Type())
			if lit := basicLiteral(v); lit != "" {
				fmt.Fprintf(&out, "const %s %s = %s\n\n", n, typ, lit)
			} else {
				fmt.Fprintf(&out, "// %s is set to the kernel's value when the plugin is loaded.\nvar %s %s\n\n", n, n, typ)
				inject = append(inject, fmt.Sprintf("\t%q: &%s,\n", n, n))
			}
		}
		if g.err != nil {
			skipped = append(skipped, fmt.Sprintf("%s (%v)", n, g.err))
			inject = trimInject(inject, n)
			continue
		}
		body.WriteString(out.String())
	}
	var b strings.Builder
	fmt.Fprintf(&b, "// Package %s is generated: the kernel's package %q for compiled code.\n// Its functions call the kernel's implementation, set after loading.\npackage %s\n\n", name, host, name)
	if len(g.imports) > 0 {
		b.WriteString("import (\n")
		paths := make([]string, 0, len(g.imports))
		for p := range g.imports {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		for _, p := range paths {
			fmt.Fprintf(&b, "\t%s %q\n", g.imports[p], p)
		}
		b.WriteString(")\n\n")
	}
	for _, d := range g.decls {
		b.WriteString(d)
	}
	b.WriteString(body.String())
	fmt.Fprintf(&b, "// unbound explains a call before the kernel bound the shim: from a\n// package-level variable's initializer or an init function, which run\n// when the plugin is opened.\nfunc unbound(name string) string {\n\treturn %q + name + %q\n}\n\n",
		name+".", " was called while the compiled code was being loaded (from a package-level var initializer or an init function), before the kernel connects "+name+": call it from a function instead")
	b.WriteString("// GompiInject maps names to the variables the kernel sets.\nvar GompiInject = map[string]any{\n")
	for _, l := range inject {
		b.WriteString(l)
	}
	b.WriteString("}\n")
	src := b.String()
	sum := sha256.Sum256([]byte(host + "\n" + src))
	return &shim{
		host: host, name: name, src: src, skipped: skipped,
		path: genModule + "/shim_" + hex.EncodeToString(sum[:6]) + "/" + name,
	}
}

func trimInject(inject []string, n string) []string {
	if len(inject) > 0 && strings.HasPrefix(inject[len(inject)-1], fmt.Sprintf("\t%q:", n)) {
		return inject[:len(inject)-1]
	}
	return inject
}

// exported reports whether a symbol name is exported (go/ast.IsExported).
func exported(name string) bool { return ast.IsExported(name) }

// shimGen renders reflect types as Go source inside a shim.
type shimGen struct {
	imports    map[string]string       // import path -> alias
	local      map[reflect.Type]string // types declared in the shim -> name
	decls      []string
	taken      map[string]bool
	mainModule string
	syms       map[string]reflect.Value
	err        error // the first thing that could not be rendered
}

// importable reports whether a plugin can import package p itself: the
// standard library and the kernel's dependencies (pinned at the kernel's
// versions), but not the kernel's own main module nor internal packages.
func (g *shimGen) importable(p string) bool {
	if strings.Contains(p, "/internal/") || strings.HasSuffix(p, "/internal") || strings.HasPrefix(p, "internal/") {
		return false
	}
	if g.mainModule != "" && (p == g.mainModule || strings.HasPrefix(p, g.mainModule+"/")) {
		return false
	}
	return p != "main"
}

func (g *shimGen) qualify(p, name string) string {
	alias, ok := g.imports[p]
	if !ok {
		alias = "gompi_" + strings.NewReplacer("/", "_", ".", "_", "-", "_", "~", "_").Replace(p)
		g.imports[p] = alias
	}
	return alias + "." + name
}

// expr renders t; named types of the kernel's own packages are declared
// in the shim with their underlying type.
func (g *shimGen) expr(t reflect.Type) string {
	if t.Name() != "" {
		if strings.Contains(t.Name(), "[") {
			g.setErr(fmt.Errorf("generic type %s", t))
			return "any"
		}
		if t.PkgPath() == "" {
			return t.Name() // predeclared: int, error, …
		}
		if g.importable(t.PkgPath()) {
			return g.qualify(t.PkgPath(), t.Name())
		}
		if name, ok := g.local[t]; ok {
			return name
		}
		name := t.Name()
		for g.taken[name] && !g.isTypeSymbol(name, t) {
			name += "_"
		}
		g.taken[name] = true
		g.local[t] = name
		g.decls = append(g.decls, "") // reserve the slot: order stays stable
		i := len(g.decls) - 1
		g.decls[i] = fmt.Sprintf("// %s is the kernel's %s.\ntype %s %s\n\n", name, t, name, g.underlying(t))
		return name
	}
	return g.underlying(t)
}

// isTypeSymbol reports whether name is taken by the exported symbol for
// this very type, (*T)(nil): then the declaration is that symbol.
func (g *shimGen) isTypeSymbol(name string, t reflect.Type) bool {
	v, ok := g.syms[name]
	return ok && v.IsValid() && v.Kind() == reflect.Pointer && v.Type().Elem() == t
}

func (g *shimGen) setErr(err error) {
	if g.err == nil {
		g.err = err
	}
}

// underlying renders t's structure, ignoring its name.
func (g *shimGen) underlying(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128, reflect.String:
		return t.Kind().String()
	case reflect.UnsafePointer:
		return g.qualify("unsafe", "Pointer")
	case reflect.Pointer:
		return "*" + g.expr(t.Elem())
	case reflect.Slice:
		return "[]" + g.expr(t.Elem())
	case reflect.Array:
		return fmt.Sprintf("[%d]%s", t.Len(), g.expr(t.Elem()))
	case reflect.Map:
		return fmt.Sprintf("map[%s]%s", g.expr(t.Key()), g.expr(t.Elem()))
	case reflect.Chan:
		switch t.ChanDir() {
		case reflect.RecvDir:
			return "<-chan " + g.expr(t.Elem())
		case reflect.SendDir:
			return "chan<- " + g.expr(t.Elem())
		}
		return "chan " + g.expr(t.Elem())
	case reflect.Func:
		return "func" + g.signature(t, false)
	case reflect.Interface:
		if t.NumMethod() == 0 {
			return "any"
		}
		var ms []string
		for i := 0; i < t.NumMethod(); i++ {
			m := t.Method(i)
			if !m.IsExported() {
				g.setErr(fmt.Errorf("interface %s has unexported methods", t))
				return "any"
			}
			ms = append(ms, m.Name+g.signature(m.Type, false))
		}
		return "interface {\n\t" + strings.Join(ms, "\n\t") + "\n}"
	case reflect.Struct:
		var fs []string
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			typ := g.expr(f.Type)
			line := f.Name + " " + typ
			if f.Anonymous && f.Type.Name() != "" && typ == f.Type.Name() {
				line = typ
			}
			if f.Tag != "" {
				line += " " + strconv.Quote(string(f.Tag))
			}
			fs = append(fs, line)
		}
		if len(fs) == 0 {
			return "struct{}"
		}
		return "struct {\n\t" + strings.Join(fs, "\n\t") + "\n}"
	}
	g.setErr(fmt.Errorf("type %s", t))
	return "any"
}

// signature renders a func type's parameters and results; named gives
// the parameters names a0, a1, … for a function body.
func (g *shimGen) signature(t reflect.Type, named bool) string {
	in := make([]string, t.NumIn())
	for i := range in {
		typ := t.In(i)
		s := ""
		if t.IsVariadic() && i == t.NumIn()-1 {
			s = "..." + g.expr(typ.Elem())
		} else {
			s = g.expr(typ)
		}
		if named {
			s = "a" + strconv.Itoa(i) + " " + s
		}
		in[i] = s
	}
	out := make([]string, t.NumOut())
	for i := range out {
		out[i] = g.expr(t.Out(i))
	}
	res := ""
	switch len(out) {
	case 0:
	case 1:
		res = " " + out[0]
	default:
		res = " (" + strings.Join(out, ", ") + ")"
	}
	return "(" + strings.Join(in, ", ") + ")" + res
}

// constLiteral renders an untyped constant.
func constLiteral(c constant.Value) string {
	if c == nil {
		return ""
	}
	switch c.Kind() {
	case constant.Bool, constant.String, constant.Int:
		return c.ExactString()
	case constant.Float:
		f, _ := constant.Float64Val(c)
		s := strconv.FormatFloat(f, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eEn") {
			s += ".0"
		}
		return s
	}
	return ""
}

// basicLiteral renders a value of a basic kind as a constant, "" if it is
// not one.
func basicLiteral(v reflect.Value) string {
	switch v.Kind() {
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		s := strconv.FormatFloat(v.Float(), 'g', -1, 64)
		if !strings.ContainsAny(s, ".eEn") {
			s += ".0"
		}
		return s
	case reflect.String:
		return strconv.Quote(v.String())
	}
	return ""
}

// shimNames maps the import paths of the shimmable packages to their
// names, from exports keyed "path/name".
func shimNames(x map[string]map[string]reflect.Value) map[string]string {
	out := map[string]string{}
	for k := range x {
		out[path.Dir(k)] = path.Base(k)
	}
	return out
}
