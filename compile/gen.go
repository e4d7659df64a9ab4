package compile

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/scanner"
	"go/token"
	"path"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/traefik/yaegi/stdlib"
)

const (
	// genModule is the module path of every generated module. Its
	// packages (shims, cells) are named below it; a path without a dot is
	// fine for a main module and cannot clash with a real module.
	genModule = "gompi"
	// cellFile is the file name compiler messages give the cell's code
	// (a //line directive maps the generated file onto the cell).
	cellFile = "cell"
)

// Decl is one name a compiled cell defined.
type Decl struct {
	Kind string // "func", "type", "var", "const", "method"
	Name string // for a method: Type.Method
	// Note says why a declaration is not available to cells ("" when it
	// is): generic declarations and unexported methods cannot cross.
	Note string
}

func (d Decl) String() string {
	s := d.Kind + " " + d.Name
	if d.Note != "" {
		s += " (" + d.Note + ")"
	}
	return s
}

// cellPlan is what the builder learned from a cell's source.
type cellPlan struct {
	file     *ast.File
	fset     *token.FileSet
	body     string   // the source to compile, package clause removed
	decls    []Decl   // what it defines, in source order
	exports  []export // what goes into the symbol table
	wrappers []string // interface wrapper declarations (see wrapper)
	imports  []string // import paths, as written
	auto     []string // import paths added for names used without an import
	hasMain  bool     // it declares func main (a script)
}

// export is one entry of the generated symbol table.
type export struct {
	name string
	expr string // Go expression of type reflect.Value, in the cell's package
	kind string // as Decl.Kind
}

// planCell parses a %%compile cell (Go declarations without a package
// clause; a script's "package main" is accepted) and decides what to
// export. Syntax errors come back as a CompileError at the cell's
// positions.
func planCell(src string, shimNames map[string]string) (*cellPlan, error) {
	body := src
	fset := token.NewFileSet()
	if f, err := parser.ParseFile(fset, cellFile, src, parser.PackageClauseOnly); err == nil {
		if f.Name.Name != "main" {
			return nil, &CompileError{Errors: []Position{{Line: fset.Position(f.Name.Pos()).Line, Col: fset.Position(f.Name.Pos()).Column,
				Msg: fmt.Sprintf("package %s: compiled code is package main (or has no package clause)", f.Name.Name)}}}
		}
		// Blank the clause out, keeping every position.
		start, end := fset.Position(f.Package).Offset, fset.Position(f.Name.End()).Offset
		body = src[:start] + strings.Repeat(" ", end-start) + src[end:]
	}
	full := "package main\n//line " + cellFile + ":1:1\n" + body
	fset = token.NewFileSet()
	f, err := parser.ParseFile(fset, cellFile, full, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		var list scanner.ErrorList
		if errors.As(err, &list) {
			ce := &CompileError{}
			for _, e := range list {
				ce.Errors = append(ce.Errors, Position{Line: e.Pos.Line, Col: e.Pos.Column, Msg: e.Msg})
			}
			return nil, ce
		}
		return nil, fmt.Errorf("compile: parse: %w", err)
	}
	if guarded, ok := guardSource(body, stdNames()); ok {
		body = guarded
		fset = token.NewFileSet()
		if f, err = parser.ParseFile(fset, cellFile, "package main\n//line "+cellFile+":1:1\n"+body, parser.ParseComments|parser.SkipObjectResolution); err != nil {
			return nil, fmt.Errorf("compile: parse after guarding goroutines: %w", err)
		}
	}
	p := &cellPlan{file: f, fset: fset, body: body}
	for _, im := range f.Imports {
		ip, _ := strconv.Unquote(im.Path.Value)
		p.imports = append(p.imports, ip)
	}
	p.auto = autoImports(f, shimNames)
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			name := d.Name.Name
			if d.Recv != nil {
				recv := recvName(d.Recv)
				decl := Decl{Kind: "method", Name: recv + "." + name}
				if !ast.IsExported(name) {
					decl.Note = "unexported: cells cannot call it"
				}
				p.decls = append(p.decls, decl)
				continue
			}
			if name == "init" || name == "_" {
				continue
			}
			if name == "main" {
				p.hasMain = true
			}
			decl := Decl{Kind: "func", Name: name}
			if d.Type.TypeParams != nil && len(d.Type.TypeParams.List) > 0 {
				decl.Note = "generic: not callable from cells"
			} else {
				p.exports = append(p.exports, export{name, "gompi_reflect.ValueOf(" + name + ")", "func"})
			}
			p.decls = append(p.decls, decl)
		case *ast.GenDecl:
			var typ ast.Expr // the type of the current const spec run
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					name := s.Name.Name
					if name == "_" {
						continue
					}
					decl := Decl{Kind: "type", Name: name}
					if s.TypeParams != nil && len(s.TypeParams.List) > 0 {
						decl.Note = "generic: not usable from cells"
					} else {
						p.exports = append(p.exports, export{name, "gompi_reflect.ValueOf((*" + name + ")(nil))", "type"})
						if it, ok := s.Type.(*ast.InterfaceType); ok {
							if w, ok := wrapper(fset, name, it); ok {
								p.wrappers = append(p.wrappers, w)
								p.exports = append(p.exports, export{"_" + name, "gompi_reflect.ValueOf((*gompiW_" + name + ")(nil))", "wrapper"})
							}
						}
					}
					p.decls = append(p.decls, decl)
				case *ast.ValueSpec:
					if d.Tok == token.CONST {
						if s.Type != nil || len(s.Values) > 0 {
							typ = s.Type
						}
					}
					for _, n := range s.Names {
						if n.Name == "_" {
							continue
						}
						if d.Tok == token.VAR {
							p.exports = append(p.exports, export{n.Name, "gompi_reflect.ValueOf(&" + n.Name + ").Elem()", "var"})
							p.decls = append(p.decls, Decl{Kind: "var", Name: n.Name})
							continue
						}
						expr := "gompi_reflect.ValueOf(" + n.Name + ")"
						if typ == nil {
							// Untyped: yaegi keeps a constant.Value untyped,
							// so 2.5*N works in a cell as in Go.
							expr = "gompiConst(" + n.Name + ")"
						}
						p.exports = append(p.exports, export{n.Name, expr, "const"})
						p.decls = append(p.decls, Decl{Kind: "const", Name: n.Name})
					}
				}
			}
		}
	}
	return p, nil
}

// wrapper generates the interface wrapper yaegi needs for interpreted
// types to implement a compiled interface (what yaegi extract generates
// as _pkg_Name): a struct of one function per method, which the
// interpreter fills with the interpreted methods. Interfaces that embed
// others or list type sets get none: an interpreted type cannot be used
// as one of them (a clear error in the cell).
func wrapper(fset *token.FileSet, name string, it *ast.InterfaceType) (string, bool) {
	var fields, methods strings.Builder
	for _, m := range it.Methods.List {
		ft, ok := m.Type.(*ast.FuncType)
		if !ok || len(m.Names) != 1 {
			return "", false
		}
		mname := m.Names[0].Name
		var params, args []string
		n := 0
		if ft.Params != nil {
			for _, f := range ft.Params.List {
				count := len(f.Names)
				if count == 0 {
					count = 1
				}
				typ := nodeString(fset, f.Type)
				for i := 0; i < count; i++ {
					a := "a" + strconv.Itoa(n)
					n++
					params = append(params, a+" "+typ)
					if _, ok := f.Type.(*ast.Ellipsis); ok {
						a += "..."
					}
					args = append(args, a)
				}
			}
		}
		res := ""
		if ft.Results != nil && len(ft.Results.List) > 0 {
			var rs []string
			for _, f := range ft.Results.List {
				typ := nodeString(fset, f.Type)
				if len(f.Names) == 0 {
					rs = append(rs, typ)
				}
				for _, n := range f.Names {
					rs = append(rs, n.Name+" "+typ)
				}
			}
			res = " " + rs[0]
			if len(rs) > 1 || len(ft.Results.List[0].Names) > 0 {
				res = " (" + strings.Join(rs, ", ") + ")"
			}
		}
		sig := "(" + strings.Join(params, ", ") + ")" + res
		ret := ""
		if ft.Results != nil && len(ft.Results.List) > 0 {
			ret = "return "
		}
		fmt.Fprintf(&fields, "\tW%s func%s\n", mname, sig)
		guard := ""
		if mname == "String" && res == " string" {
			guard = "\tif W.WString == nil {\n\t\treturn \"\"\n\t}\n"
		}
		fmt.Fprintf(&methods, "func (W gompiW_%s) %s%s {\n%s\t%sW.W%s(%s)\n}\n\n", name, mname, sig, guard, ret, mname, strings.Join(args, ", "))
	}
	return fmt.Sprintf("// gompiW_%s lets interpreted types implement %s.\ntype gompiW_%s struct {\n\tIValue any\n%s}\n\n%s", name, name, name, fields.String(), methods.String()), true
}

// nodeString prints an AST node as Go source.
func nodeString(fset *token.FileSet, n ast.Node) string {
	var b strings.Builder
	if err := printer.Fprint(&b, fset, n); err != nil {
		return "any"
	}
	return b.String()
}

// usedSymbols narrows a shim's symbols to those the cell names (pkg.Sym
// selectors on the name it imports the package as): a shim of display
// that only shows Markdown then imports nothing of gonum/plot, which a
// cold build would otherwise compile for tens of seconds. A dot-import
// keeps everything.
func usedSymbols(p *cellPlan, ipath, name string, syms map[string]reflect.Value) map[string]reflect.Value {
	local := name
	for _, im := range p.file.Imports {
		if v, _ := strconv.Unquote(im.Path.Value); v == ipath && im.Name != nil {
			if im.Name.Name == "." {
				return syms
			}
			local = im.Name.Name
		}
	}
	used := map[string]reflect.Value{}
	ast.Inspect(p.file, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == local {
				if v, ok := syms[sel.Sel.Name]; ok {
					used[sel.Sel.Name] = v
				}
			}
		}
		return true
	})
	return used
}

// recvName is the receiver's type name: T for (t *T) or (t T[K]).
func recvName(fl *ast.FieldList) string {
	if fl == nil || len(fl.List) == 0 {
		return "?"
	}
	t := fl.List[0].Type
	for {
		switch x := t.(type) {
		case *ast.StarExpr:
			t = x.X
		case *ast.IndexExpr:
			t = x.X
		case *ast.IndexListExpr:
			t = x.X
		case *ast.ParenExpr:
			t = x.X
		case *ast.Ident:
			return x.Name
		default:
			return "?"
		}
	}
}

// autoImports finds packages the cell uses without importing them, as the
// interpreter's cells may: X.Sel where X is not declared in the cell and
// names a shim (mpi, display) or a standard package.
func autoImports(f *ast.File, shimNames map[string]string) []string {
	declared := map[string]bool{}
	for _, im := range f.Imports {
		ip, _ := strconv.Unquote(im.Path.Value)
		if im.Name != nil {
			declared[im.Name.Name] = true
		} else {
			declared[path.Base(ip)] = true
			if n, ok := shimNames[ip]; ok {
				declared[n] = true
			}
		}
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil {
				declared[d.Name.Name] = true
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					declared[s.Name.Name] = true
				case *ast.ValueSpec:
					for _, n := range s.Names {
						declared[n.Name] = true
					}
				}
			}
		}
	}
	std := stdNames()
	byName := map[string]string{}
	for ip, n := range shimNames {
		byName[n] = ip
	}
	used := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		id, ok := sel.X.(*ast.Ident)
		if !ok || declared[id.Name] || locallyBound(f, id) {
			return true
		}
		if ip, ok := byName[id.Name]; ok {
			used[ip] = true
		} else if ip, ok := std[id.Name]; ok {
			used[ip] = true
		}
		return true
	})
	out := make([]string, 0, len(used))
	for ip := range used {
		out = append(out, ip)
	}
	sort.Strings(out)
	return out
}

// locallyBound reports whether id is a parameter, local variable or other
// name bound inside a function of f (then X.Sel is a field or method, not
// a package). It is a conservative syntactic check: any binding of the
// same name in the enclosing function counts.
func locallyBound(f *ast.File, id *ast.Ident) bool {
	bound := false
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Body == nil || id.Pos() < fd.Pos() || id.Pos() > fd.End() {
			continue
		}
		check := func(fl *ast.FieldList) {
			if fl == nil {
				return
			}
			for _, fld := range fl.List {
				for _, n := range fld.Names {
					if n.Name == id.Name {
						bound = true
					}
				}
			}
		}
		check(fd.Recv)
		check(fd.Type.Params)
		check(fd.Type.Results)
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.AssignStmt:
				if n.Tok == token.DEFINE {
					for _, l := range n.Lhs {
						if x, ok := l.(*ast.Ident); ok && x.Name == id.Name {
							bound = true
						}
					}
				}
			case *ast.ValueSpec:
				for _, x := range n.Names {
					if x.Name == id.Name {
						bound = true
					}
				}
			case *ast.FuncLit:
				check(n.Type.Params)
				check(n.Type.Results)
			case *ast.RangeStmt:
				for _, e := range []ast.Expr{n.Key, n.Value} {
					if x, ok := e.(*ast.Ident); ok && x.Name == id.Name && n.Tok == token.DEFINE {
						bound = true
					}
				}
			}
			return !bound
		})
	}
	return bound
}

// stdNames maps the names of standard packages to their import paths,
// settling shared names the way goimports users expect (rand is
// math/rand), like the interpreter's auto-import.
func stdNames() map[string]string {
	prefer := map[string]string{"rand": "math/rand", "template": "text/template", "scanner": "text/scanner", "pprof": "runtime/pprof"}
	out := map[string]string{}
	for key := range stdlib.Symbols {
		dir, name := path.Dir(key), path.Base(key)
		if strings.Contains(dir, "internal") || strings.Contains(dir, ".") {
			continue
		}
		if p, ok := prefer[name]; ok {
			out[name] = p
			continue
		}
		if old, ok := out[name]; !ok || len(dir) < len(old) {
			out[name] = dir
		}
	}
	return out
}

// cellSource is the generated cell.go: the package clause, imports the
// cell left out, then the cell's own code under a //line directive so
// that compiler messages carry the cell's positions. Imports of shims are
// redirected to the generated shim packages, keeping the name the cell
// uses.
func (p *cellPlan) cellSource(shimPaths map[string]string, shimNames map[string]string) string {
	body := p.body
	type edit struct {
		start, end int
		text       string
	}
	var edits []edit
	// Offsets in p.file are in "package main\n//line …\n" + body.
	prefix := len("package main\n//line " + cellFile + ":1:1\n")
	for _, im := range p.file.Imports {
		ip, _ := strconv.Unquote(im.Path.Value)
		to, ok := shimPaths[ip]
		if !ok {
			continue
		}
		start := p.fset.File(im.Path.Pos()).Offset(im.Path.Pos()) - prefix
		end := start + len(im.Path.Value)
		text := strconv.Quote(to)
		if im.Name == nil {
			text = shimNames[ip] + " " + text
		}
		edits = append(edits, edit{start, end, text})
	}
	sort.Slice(edits, func(i, j int) bool { return edits[i].start > edits[j].start })
	for _, e := range edits {
		body = body[:e.start] + e.text + body[e.end:]
	}
	var b strings.Builder
	b.WriteString("package main\n\n")
	for _, ip := range p.auto {
		if to, ok := shimPaths[ip]; ok {
			fmt.Fprintf(&b, "import %s %q\n", shimNames[ip], to)
		} else {
			fmt.Fprintf(&b, "import %q\n", ip)
		}
	}
	b.WriteString("\n//line " + cellFile + ":1:1\n")
	b.WriteString(body)
	if len(p.wrappers) > 0 {
		// In this file: the method signatures use the cell's imports.
		b.WriteString("\n\n//line gompi_wrappers.go:1:1\n")
		for _, w := range p.wrappers {
			b.WriteString(w)
		}
	}
	b.WriteString("\n")
	return b.String()
}

// exportsSource is the generated file that gives the interpreter the
// cell's names (GompiSymbols, in the shape yaegi extract generates) and
// gives the kernel the shims' variables to set (GompiShims).
func (p *cellPlan) exportsSource(pkgPath string, shims []*shim) string {
	var b strings.Builder
	b.WriteString("package main\n\nimport (\n\tgompi_constant \"go/constant\"\n\tgompi_reflect \"reflect\"\n")
	for i, s := range shims {
		fmt.Fprintf(&b, "\tgompi_shim%d %q\n", i, s.path)
	}
	b.WriteString(")\n\n")
	b.WriteString("// GompiSymbols is the cell's symbol table for the interpreter.\n")
	fmt.Fprintf(&b, "var GompiSymbols = map[string]map[string]gompi_reflect.Value{\n\t%q: {\n", pkgPath+"/"+path.Base(pkgPath))
	for _, e := range p.exports {
		fmt.Fprintf(&b, "\t\t%q: %s,\n", e.name, e.expr)
	}
	b.WriteString("\t},\n}\n\n")
	b.WriteString("// GompiShims holds, per import path, the variables of the shim packages\n// that the kernel sets to its own implementation after loading.\n")
	b.WriteString("var GompiShims = map[string]map[string]any{\n")
	for i, s := range shims {
		fmt.Fprintf(&b, "\t%q: gompi_shim%d.GompiInject,\n", s.host, i)
	}
	b.WriteString("}\n\n")
	b.WriteString(`// gompiConst turns the default-typed value of an untyped constant back
// into an untyped constant, as the interpreter expects it.
func gompiConst(v any) gompi_reflect.Value {
	switch x := v.(type) {
	case bool:
		return gompi_reflect.ValueOf(gompi_constant.MakeBool(x))
	case string:
		return gompi_reflect.ValueOf(gompi_constant.MakeString(x))
	case int:
		return gompi_reflect.ValueOf(gompi_constant.MakeInt64(int64(x)))
	case int32:
		return gompi_reflect.ValueOf(gompi_constant.MakeInt64(int64(x)))
	case float64:
		return gompi_reflect.ValueOf(gompi_constant.MakeFloat64(x))
	}
	return gompi_reflect.ValueOf(v)
}
`)
	return b.String()
}

// binding is the cell-side source that makes a loaded cell's names
// available unqualified: an import of the generated package under a
// hidden name, then one alias or variable per name. Running it through the
// session's ordinary Execute gives the names the usual redefinition rules.
func (a *Artifact) binding() string {
	alias := "gompi_" + path.Base(a.Package)
	var b strings.Builder
	fmt.Fprintf(&b, "import %s %q\n", alias, a.Package)
	for _, d := range a.Defined {
		if d.Note != "" || d.Name == "main" {
			continue
		}
		switch d.Kind {
		case "func", "var":
			fmt.Fprintf(&b, "var %s = %s.%s\n", d.Name, alias, d.Name)
		case "type":
			fmt.Fprintf(&b, "type %s = %s.%s\n", d.Name, alias, d.Name)
		case "const":
			fmt.Fprintf(&b, "const %s = %s.%s\n", d.Name, alias, d.Name)
		}
	}
	return b.String()
}
