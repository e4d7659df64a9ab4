package session

import (
	"fmt"
	"go/constant"
	"go/parser"
	"go/scanner"
	"go/token"
	"reflect"
	"strings"
)

// Inspect describes the identifier or X.Name under (or just before) the
// cursor, a position in code points, with its signature and doc comment:
//
//   - a member of a compiled package: its declaration and doc comment from
//     the Go sources (the standard library's under GOROOT, gompi's own
//     next to the binary's build path, gonum's in the module cache); when
//     the sources are absent, the reflected type and a line saying where
//     they were looked for;
//   - a name declared in the cell or an earlier cell (function, type,
//     method, field): its declaration, and its doc comment when it is in
//     the cell's text; a variable: its type and value;
//   - a package: its import path and synopsis.
//
// detail 0 shows declarations without function bodies and long types cut;
// detail 1 shows them whole.
//
// With the cursor inside a call's parentheses and not on a name it
// describes, it describes the innermost enclosing call's function, as
// IPython does: Jupyter frontends send Shift+Tab after `strings.Fields(`
// with the cursor after the parenthesis.
func (s *Session) Inspect(code string, cursor, detail int) (map[string]any, bool) {
	off := byteOffset(code, cursor)
	if start, end := wordStart(code, off), wordEnd(code, off); start < end {
		if d, ok := s.inspectWord(code, start, end, detail); ok {
			return d, true
		}
	}
	if start, end, ok := enclosingCall(code, off); ok {
		return s.inspectWord(code, start, end, detail)
	}
	return nil, false
}

// enclosingCall finds the function name of the innermost call whose
// parentheses hold byte offset off: the byte range of its last identifier
// (Fields in strings.Fields). Strings and comments are skipped by
// scanning Go tokens; grouping parentheses and index brackets are looked
// through, a brace (a block, a literal) ends the search.
func enclosingCall(code string, off int) (start, end int, ok bool) {
	type open struct {
		tok        token.Token
		start, end int // the called name, start < end when there is one
	}
	var stack []open
	fset := token.NewFileSet()
	src := []byte(code[:off])
	f := fset.AddFile("", -1, len(src))
	var sc scanner.Scanner
	sc.Init(f, src, nil, 0)
	prevTok, prevStart, prevEnd := token.ILLEGAL, 0, 0
	for {
		pos, tok, lit := sc.Scan()
		if tok == token.EOF {
			break
		}
		at := f.Offset(pos)
		switch tok {
		case token.LPAREN, token.LBRACK, token.LBRACE:
			o := open{tok: tok}
			if tok == token.LPAREN && prevTok == token.IDENT {
				o.start, o.end = prevStart, prevEnd
			}
			stack = append(stack, o)
		case token.RPAREN, token.RBRACK, token.RBRACE:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
		prevTok, prevStart, prevEnd = tok, at, at+len(lit)
	}
	for i := len(stack) - 1; i >= 0; i-- {
		switch o := stack[i]; {
		case o.tok == token.LBRACE:
			return 0, 0, false
		case o.tok == token.LPAREN && o.start < o.end:
			return o.start, o.end, true
		}
	}
	return 0, 0, false
}

// inspectWord describes the name at code[start:end].
func (s *Session) inspectWord(code string, start, end, detail int) (map[string]any, bool) {
	name := code[start:end]
	h := &help{s: s, code: code, detail: detail, docs: s.docs(), view: parseCell(code)}
	var text string
	if recv, ok := selectorBefore(code, start); ok {
		text = h.member(start-1-len(recv), recv, name)
	} else {
		text = h.name(start, name)
	}
	if text == "" {
		return nil, false
	}
	return map[string]any{"text/plain": s.NameTypes(strings.TrimRight(text, "\n")) + "\n"}, true
}

// help is one inspection request.
type help struct {
	s      *Session
	code   string
	detail int
	docs   *docIndex
	view   *cellView
}

// render writes a declaration in `go doc` style: the code, then its doc
// comment indented.
func (h *help) render(d *declDoc) string {
	code := d.sig
	if h.detail > 0 {
		code = d.full
	} else if strings.HasPrefix(code, "type ") {
		code = shortType(code, 20)
	}
	var b strings.Builder
	b.WriteString(code)
	b.WriteString("\n")
	if d.doc != "" {
		for _, l := range strings.Split(strings.TrimRight(d.doc, "\n"), "\n") {
			if l == "" {
				b.WriteString("\n")
			} else {
				b.WriteString("    " + l + "\n")
			}
		}
	}
	return b.String()
}

// packageMember describes pkg.name of a compiled package.
func (h *help) packageMember(pkg, path, name string) string {
	sym, ok := h.s.pkgs.symbols[path][name]
	if !ok {
		return ""
	}
	reflected := describeSymbol(pkg+"."+name, sym)
	// The signature comes first (a tooltip shows its first lines); the
	// package line last.
	tail := fmt.Sprintf("\npackage %s // import %q\n", pkg, path)
	recvs := []string{""}
	if src, ok := h.docs.bound[path]; ok {
		recvs = append(append([]string(nil), src.Recvs...), "", "*")
	}
	var missing string
	for _, r := range recvs {
		d, miss := h.docs.lookup(path, r, name)
		if d != nil {
			out := h.render(d)
			if r != "" {
				out += fmt.Sprintf("\n(in cells: %s)\n", reflected)
			}
			return out + tail
		}
		missing = miss
	}
	if missing != "" {
		return reflected + "\n\ndoc: Go sources not found at " + missing + "\n" + tail
	}
	return reflected + "\n" + tail
}

// member describes recv.name, where recv starts at byte recvOff.
func (h *help) member(recvOff int, recv, name string) string {
	if path, ok := h.s.packagePath(recv); ok && localType(h.code, recvOff, recv) == "" {
		return h.packageMember(recv, path, name)
	}
	typ := localType(h.code, recvOff, recv)
	if typ == "" {
		if vm := h.valueMember(recv, name); strings.HasPrefix(vm, "field ") {
			return vm // a field of a global: its value too
		}
		typ = h.globalType(recv)
	}
	if out := h.typeMember(typ, name, 0); out != "" {
		return out
	}
	return h.valueMember(recv, name)
}

// globalType names the type of a global of earlier cells: "T" for a type
// declared in a cell, "pkg.T" for a compiled one.
func (h *help) globalType(name string) string {
	h.s.mu.Lock()
	ip := h.s.ip
	h.s.mu.Unlock()
	sym, ok := lookupCellSym(ip, name)
	if !ok || sym.kind != yVarSym {
		return ""
	}
	t := sym.typ
	if itypeCat(t) == yPtrT {
		t = derefStruct(field(t, "val"))
	}
	if itypeCat(t) == yValueT {
		if rt, ok := field(t, "rtype").Interface().(reflect.Type); ok && rt != nil {
			return reflectTypeExpr(rt)
		}
		return ""
	}
	return itypeString(t, "name")
}

// typeMember describes the method or field name of a type written as
// localType does.
func (h *help) typeMember(typ, name string, depth int) string {
	if typ == "" || depth > 3 {
		return ""
	}
	typ = strings.TrimPrefix(typ, "*")
	if strings.HasSuffix(typ, "()") {
		return h.typeMember(h.s.callResult(h.view, strings.TrimSuffix(typ, "()")), name, depth+1)
	}
	if pkg, tname, ok := strings.Cut(typ, "."); ok {
		rt := h.s.compiledType(pkg, tname)
		if rt == nil {
			return ""
		}
		if _, ok := reflect.PointerTo(rt).MethodByName(name); !ok {
			if _, ok := rt.MethodByName(name); !ok {
				return "" // a field: the value shows more
			}
		}
		if d, _ := h.docs.lookup(rt.PkgPath(), rt.Name(), name); d != nil {
			return h.render(d)
		}
		m, _ := reflect.PointerTo(rt).MethodByName(name)
		var in, out []string
		for i := 1; i < m.Type.NumIn(); i++ {
			in = append(in, m.Type.In(i).String())
		}
		for i := 0; i < m.Type.NumOut(); i++ {
			out = append(out, m.Type.Out(i).String())
		}
		res := strings.Join(out, ", ")
		if len(out) > 1 {
			res = "(" + res + ")"
		}
		return strings.TrimRight(fmt.Sprintf("func (*%s) %s(%s) %s", typ, name, strings.Join(in, ", "), res), " ") + "\n"
	}
	if d := h.view.decl(typ, name); d != nil {
		return h.render(d)
	}
	h.s.mu.Lock()
	ip := h.s.ip
	h.s.mu.Unlock()
	sym, ok := lookupCellSym(ip, typ)
	if !ok || sym.kind != yTypeSym {
		return ""
	}
	for _, m := range itypeMethods(sym.typ) {
		if m[0] == name {
			return fmt.Sprintf("func (%s) %s%s\n(declared in an earlier cell)\n", typ, name, strings.TrimPrefix(m[1], "func"))
		}
	}
	for _, f := range itypeFields(sym.typ) {
		if f[0] == name {
			return fmt.Sprintf("field %s.%s %s\n(declared in an earlier cell)\n", typ, name, f[1])
		}
	}
	return ""
}

// valueMember describes recv.name from the value of a global.
func (h *help) valueMember(recv, name string) string {
	v, ok := h.s.global(recv)
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

// name describes a lone identifier starting at byte off.
func (h *help) name(off int, name string) string {
	if v, ok := h.s.global(name); ok && localType(h.code, off, name) == "" {
		u := unwrapInterp(v)
		typ := "nil"
		if u.IsValid() {
			typ = h.s.TypeString(u.Type())
		}
		if t := h.globalType(name); t != "" && !strings.Contains(t, ".") && !strings.Contains(typ, t) {
			typ = t // a cell type reflect cannot name (type Celsius float64)
		}
		return fmt.Sprintf("%s %s = %s", name, typ, plainText(u))
	}
	if d := h.view.decl("", name); d != nil {
		return h.render(d)
	}
	if path, ok := h.s.packagePath(name); ok {
		return h.packageDoc(name, path)
	}
	if out := h.cellDecl(name); out != "" {
		return out
	}
	for _, b := range goBuiltins() {
		if b == name {
			if d, _ := h.docs.lookup("builtin", "", name); d != nil {
				return "predeclared identifier (package builtin)\n\n" + h.render(d)
			}
			return name + ": predeclared identifier (builtin)"
		}
	}
	return ""
}

// cellDecl describes a function or type declared by an earlier cell, as
// the interpreter knows it (the cell's text, and so its doc comment, is no
// longer at hand).
func (h *help) cellDecl(name string) string {
	h.s.mu.Lock()
	ip := h.s.ip
	declared := h.s.globals[name]
	h.s.mu.Unlock()
	if !declared {
		return ""
	}
	const note = "(declared in an earlier cell)\n"
	sym, ok := lookupCellSym(ip, name)
	if !ok {
		return name + ": declared in an earlier cell (function or type)"
	}
	switch sym.kind {
	case yFuncSym:
		return fmt.Sprintf("func %s%s\n%s", name, strings.TrimPrefix(itypeString(sym.typ, "str"), "func"), note)
	case yTypeSym:
		var b strings.Builder
		if fs := itypeFields(sym.typ); itypeCat(sym.typ) == yStructT {
			fmt.Fprintf(&b, "type %s struct {\n", name)
			for _, f := range fs {
				fmt.Fprintf(&b, "\t%s %s\n", f[0], strings.TrimPrefix(f[1], "main."))
			}
			b.WriteString("}\n")
		} else {
			fmt.Fprintf(&b, "type %s\n", name)
		}
		for _, m := range itypeMethods(sym.typ) {
			fmt.Fprintf(&b, "func (%s) %s%s\n", name, m[0], strings.TrimPrefix(m[1], "func"))
		}
		return b.String() + note
	}
	return name + ": declared in an earlier cell (function or type)"
}

// packageDoc describes a package: its import path and the synopsis of its
// doc comment (all of it at detail 1).
func (h *help) packageDoc(name, path string) string {
	out := fmt.Sprintf("package %s // import %q\n", name, path)
	dirs, tried := h.docs.dirsOf(path)
	found := false
	for _, dir := range dirs {
		for _, f := range h.docs.goFiles(dir) {
			found = true
			af, err := parser.ParseFile(token.NewFileSet(), f, h.docs.text(f), parser.PackageClauseOnly|parser.ParseComments)
			if err != nil || af.Doc == nil {
				continue
			}
			text := af.Doc.Text()
			if h.detail == 0 {
				if i := strings.Index(text, "\n\n"); i >= 0 {
					text = text[:i+1]
				}
			}
			return out + "\n" + text
		}
	}
	if !found && tried != "" {
		out += "\ndoc: Go sources not found at " + tried + "\n"
	}
	return out
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
