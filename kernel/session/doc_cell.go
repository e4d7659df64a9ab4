package session

import (
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"reflect"
	"strings"
)

// This file reads the cell being typed for completion and inspection: its
// declarations with their doc comments, and the type a name was given
// earlier in the text.

// cellView is the current cell's declarations, parsed with comments. A cell
// being typed is often incomplete: the parser's partial result is kept.
type cellView struct {
	fset  *token.FileSet
	decls []ast.Decl
}

// cellPrefix makes a cell a file (on a line of its own, so that a doc
// comment on the cell's first line stays with its declaration).
const cellPrefix = "package main\n"

// parseCell parses the declarations of a cell; statements outside
// functions are skipped by the parser's error recovery.
func parseCell(code string) *cellView {
	fset := token.NewFileSet()
	f, _ := parser.ParseFile(fset, cellFile, cellPrefix+code, parser.ParseComments|parser.AllErrors|parser.SkipObjectResolution)
	v := &cellView{fset: fset}
	if f != nil {
		for _, d := range f.Decls {
			if _, bad := d.(*ast.BadDecl); !bad {
				v.decls = append(v.decls, d)
			}
		}
	}
	return v
}

// decl finds a top-level name (recv "") or a method of type recv.
func (v *cellView) decl(recv, name string) *declDoc {
	for _, d := range v.decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Name.Name == name && recvTypeName(d) == recv {
				return funcDoc(v.fset, d)
			}
		case *ast.GenDecl:
			if recv == "" {
				if dd := genDoc(v.fset, d, name); dd != nil {
					return dd
				}
			}
		}
	}
	return nil
}

// typeSpec returns the declaration of type name in the cell.
func (v *cellView) typeSpec(name string) *ast.TypeSpec {
	for _, d := range v.decls {
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.TYPE {
			for _, sp := range g.Specs {
				if ts := sp.(*ast.TypeSpec); ts.Name.Name == name {
					return ts
				}
			}
		}
	}
	return nil
}

// members lists the fields and methods of type name as the cell declares
// them (methods on name and *name), and the types it embeds.
func (v *cellView) members(name string) (out, embedded []string) {
	if ts := v.typeSpec(name); ts != nil {
		switch t := ts.Type.(type) {
		case *ast.StructType:
			for _, f := range t.Fields.List {
				if len(f.Names) == 0 {
					e := exprString(v.fset, f.Type)
					embedded = append(embedded, e)
					out = append(out, e[strings.LastIndexAny(e, ".*")+1:])
				}
				for _, n := range f.Names {
					out = append(out, n.Name)
				}
			}
		case *ast.InterfaceType:
			for _, f := range t.Methods.List {
				for _, n := range f.Names {
					out = append(out, n.Name)
				}
			}
		}
	}
	for _, d := range v.decls {
		if f, ok := d.(*ast.FuncDecl); ok && f.Recv != nil && recvTypeName(f) == name {
			out = append(out, f.Name.Name)
		}
	}
	return out, embedded
}

// funcResult returns the first result type of a function the cell
// declares, as source.
func (v *cellView) funcResult(name string) string {
	for _, d := range v.decls {
		if f, ok := d.(*ast.FuncDecl); ok && f.Recv == nil && f.Name.Name == name {
			if r := f.Type.Results; r != nil && len(r.List) > 0 {
				return exprString(v.fset, r.List[0].Type)
			}
		}
	}
	return ""
}

// localType guesses, from the tokens of code before off, the type that
// the last declaration of name gave it: "T", "*T", "pkg.T", or a call
// "F()" / "pkg.F()" whose result is the type. It understands
// `name := T{…}`, `name := &T{…}`, `name := F(…)`, `var name T` and
// parameters or fields `name T`.
func localType(code string, off int, name string) string {
	fset := token.NewFileSet()
	file := fset.AddFile("", -1, off)
	var sc scanner.Scanner
	sc.Init(file, []byte(code[:off]), func(token.Position, string) {}, 0)
	type tk struct {
		t   token.Token
		lit string
	}
	var toks []tk
	for {
		_, t, lit := sc.Scan()
		if t == token.EOF {
			break
		}
		toks = append(toks, tk{t, lit})
	}
	// typeAt reads a type or call expression starting at i.
	typeAt := func(i int, allowCall bool) string {
		ptr := ""
		if i < len(toks) && (toks[i].t == token.MUL || toks[i].t == token.AND) {
			ptr = "*"
			i++
		}
		if i >= len(toks) || toks[i].t != token.IDENT {
			return ""
		}
		t := toks[i].lit
		i++
		if i+1 < len(toks) && toks[i].t == token.PERIOD && toks[i+1].t == token.IDENT {
			t += "." + toks[i+1].lit
			i += 2
		}
		if i < len(toks) && toks[i].t == token.LPAREN {
			if !allowCall || ptr != "" {
				return ""
			}
			return t + "()"
		}
		return ptr + t
	}
	for i := len(toks) - 2; i >= 0; i-- {
		if toks[i].t != token.IDENT || toks[i].lit != name {
			continue
		}
		if i > 0 && toks[i-1].t == token.PERIOD {
			continue
		}
		switch next := toks[i+1]; next.t {
		case token.DEFINE, token.ASSIGN:
			if t := typeAt(i+2, true); t != "" {
				return t
			}
		case token.IDENT, token.MUL:
			if t := typeAt(i+1, false); t != "" {
				return t
			}
		}
	}
	return ""
}

// typeMembers lists the members of a type written as in localType,
// looking in the cell, in the cells' earlier declarations and in compiled
// packages.
func (s *Session) typeMembers(view *cellView, typ string, depth int) []string {
	if depth > 3 || typ == "" {
		return nil
	}
	typ = strings.TrimPrefix(typ, "*")
	if strings.HasSuffix(typ, "()") {
		return s.typeMembers(view, s.callResult(view, strings.TrimSuffix(typ, "()")), depth+1)
	}
	if pkg, name, ok := strings.Cut(typ, "."); ok {
		if rt := s.compiledType(pkg, name); rt != nil {
			return typeMemberNames(rt)
		}
		return nil
	}
	out, embedded := view.members(typ)
	s.mu.Lock()
	ip := s.ip
	s.mu.Unlock()
	if sym, ok := lookupCellSym(ip, typ); ok && sym.kind == yTypeSym {
		out = append(out, itypeMembers(sym.typ)...)
	}
	for _, e := range embedded {
		out = append(out, s.typeMembers(view, e, depth+1)...)
	}
	return out
}

// callResult returns the result type of a function F or pkg.F, as source.
func (s *Session) callResult(view *cellView, fn string) string {
	if pkg, name, ok := strings.Cut(fn, "."); ok {
		path, ok := s.packagePath(pkg)
		if !ok {
			return ""
		}
		f := s.pkgs.symbols[path][name]
		if !f.IsValid() || f.Kind() != reflect.Func || f.Type().NumOut() == 0 {
			return ""
		}
		return reflectTypeExpr(f.Type().Out(0))
	}
	if r := view.funcResult(fn); r != "" {
		return r
	}
	s.mu.Lock()
	ip := s.ip
	s.mu.Unlock()
	if sym, ok := lookupCellSym(ip, fn); ok && sym.kind == yFuncSym {
		if ret := field(sym.typ, "ret"); ret.IsValid() && ret.Kind() == reflect.Slice && ret.Len() > 0 {
			return strings.TrimPrefix(itypeString(derefStruct(ret.Index(0)), "str"), "main.")
		}
	}
	return ""
}

// reflectTypeExpr writes a compiled type as pkg.T (or *pkg.T).
func reflectTypeExpr(t reflect.Type) string {
	ptr := ""
	if t.Kind() == reflect.Pointer {
		ptr, t = "*", t.Elem()
	}
	if t.Name() == "" || t.PkgPath() == "" {
		return ""
	}
	return ptr + pathBase(t.PkgPath()) + "." + t.Name()
}

func pathBase(p string) string { return p[strings.LastIndex(p, "/")+1:] }

// compiledType returns the type pkg.name of a compiled package.
func (s *Session) compiledType(pkg, name string) reflect.Type {
	path, ok := s.packagePath(pkg)
	if !ok {
		return nil
	}
	v := s.pkgs.symbols[path][name]
	if v.IsValid() && v.Kind() == reflect.Pointer && v.IsNil() {
		return v.Type().Elem()
	}
	return nil
}

// typeMemberNames lists the exported methods (of *t, which include t's)
// and fields of a compiled type.
func typeMemberNames(t reflect.Type) []string {
	var out []string
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	mt := t
	if t.Kind() != reflect.Interface {
		mt = reflect.PointerTo(t)
	}
	for i := 0; i < mt.NumMethod(); i++ {
		out = append(out, mt.Method(i).Name)
	}
	if t.Kind() == reflect.Struct {
		for i := 0; i < t.NumField(); i++ {
			if f := t.Field(i); f.IsExported() {
				out = append(out, f.Name)
			}
		}
	}
	return out
}
