package session

import (
	"go/ast"
	"path"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/traefik/yaegi/interp"
)

// pkgIndex knows the packages a session can import: yaegi's standard
// library and the extra packages of Options.Exports. It drives auto-import
// and completion.
type pkgIndex struct {
	byName  map[string]string                   // package name -> preferred import path
	names   map[string]string                   // import path -> package name
	symbols map[string]map[string]reflect.Value // import path -> exported symbols
}

// preferredPath settles package names that several standard packages share,
// as goimports users expect (rand.Intn is math/rand).
func preferredPath(name string) string {
	switch name {
	case "rand":
		return "math/rand"
	case "template":
		return "text/template"
	case "scanner":
		return "text/scanner"
	case "pprof":
		return "runtime/pprof"
	case "parse":
		return "text/template/parse"
	}
	return ""
}

// newPkgIndex indexes stdlib symbols and extra exports; extra packages win
// over standard ones of the same name.
func newPkgIndex(std, extra interp.Exports) *pkgIndex {
	x := &pkgIndex{
		byName:  map[string]string{},
		names:   map[string]string{},
		symbols: map[string]map[string]reflect.Value{},
	}
	add := func(key string, syms map[string]reflect.Value, override bool) {
		dir, name := path.Dir(key), path.Base(key)
		if dir == "." || strings.HasPrefix(dir, "github.com/traefik/yaegi") || strings.Contains(dir, "internal") {
			return
		}
		x.names[dir] = name
		x.symbols[dir] = syms
		old, taken := x.byName[name]
		switch {
		case !taken, override:
			x.byName[name] = dir
		case preferredPath(name) != "":
			x.byName[name] = preferredPath(name)
		case len(dir) < len(old) || (len(dir) == len(old) && dir < old):
			x.byName[name] = dir
		}
	}
	for k, v := range std {
		add(k, v, false)
	}
	for k, v := range extra {
		add(k, v, true)
	}
	return x
}

// packageNames returns the importable package names, sorted.
func (x *pkgIndex) packageNames() []string {
	out := make([]string, 0, len(x.byName))
	for n := range x.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// usedPackages returns the names X of selector expressions X.Sel in nodes
// where X is not resolved inside the node (a package, a global of an earlier
// cell, or a mistake). The parser resolves identifiers within a chunk; the
// caller filters out the cell's and the session's own names.
func usedPackages(nodes []ast.Node) map[string]bool {
	used := map[string]bool{}
	for _, n := range nodes {
		ast.Inspect(n, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if id, ok := sel.X.(*ast.Ident); ok && id.Obj == nil { //nolint:staticcheck // Obj is the parser's resolution, exactly what is needed here
					used[id.Name] = true
				}
			}
			return true
		})
	}
	return used
}

// declaredNames returns the package-level names a plan declares: functions,
// types, vars, consts, and variables defined with := at the top level.
func declaredNames(p *plan) map[string]bool {
	names := map[string]bool{}
	for _, c := range p.chunks {
		for _, d := range c.decls {
			for _, n := range declNames(d) {
				names[n] = true
			}
		}
		for _, s := range c.stmts {
			for _, n := range defineNames(s) {
				names[n] = true
			}
		}
	}
	return names
}

// declNames returns the names a top-level declaration binds (methods bind
// none).
func declNames(d ast.Decl) []string {
	var out []string
	switch d := d.(type) {
	case *ast.FuncDecl:
		if d.Recv == nil {
			out = append(out, d.Name.Name)
		}
	case *ast.GenDecl:
		for _, s := range d.Specs {
			switch s := s.(type) {
			case *ast.TypeSpec:
				out = append(out, s.Name.Name)
			case *ast.ValueSpec:
				for _, n := range s.Names {
					out = append(out, n.Name)
				}
			}
		}
	}
	return out
}

// defineNames returns the names a top-level x, y := … statement binds.
func defineNames(s ast.Stmt) []string {
	var out []string
	if as, ok := s.(*ast.AssignStmt); ok && as.Tok.String() == ":=" {
		for _, l := range as.Lhs {
			if id, ok := l.(*ast.Ident); ok && id.Name != "_" {
				out = append(out, id.Name)
			}
		}
	}
	return out
}

// importSource is the Go source of one import.
func importSource(name, path string) string {
	if name != "" {
		return "import " + name + " " + strconv.Quote(path)
	}
	return "import " + strconv.Quote(path)
}
