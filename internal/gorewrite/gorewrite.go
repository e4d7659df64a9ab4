// Package gorewrite rewrites the go statements of Go source so that a panic
// in the goroutine they start is recovered there instead of killing the
// process (and with it every MPI rank). The interpreter's cells
// (kernel/session) and compiled cells (compile) share it: in both, the
// kernel must outlive a careless goroutine.
//
//	go func(x int) { … }(v)  ->  go func(x int) { defer RECOVER; … }(v)
//	go f(a, b)               ->  { __gompiA0, __gompiA1 := a, b; go func() { defer RECOVER; f(__gompiA0, __gompiA1) }() }
//
// The second form evaluates the function value and the arguments before
// the goroutine starts, as Go does (yaegi gets `go g()()` wrong: it
// evaluates g() in the new goroutine). Constants stay in place, so that an
// untyped constant still takes the parameter's type. No line is added or
// removed; columns after a rewritten go statement on its line shift.
package gorewrite

import (
	"fmt"
	"go/ast"
	"go/token"
	"sort"
	"strings"
)

// Root is a parsed piece of source and the map from its positions to byte
// offsets in the text being rewritten (a cell may be parsed in pieces).
type Root struct {
	Node   ast.Node
	Offset func(token.Pos) int
}

// Names answers questions about identifiers the syntax cannot: whether a
// name is a constant declared elsewhere (an earlier cell), and whether it
// names an imported package.
type Names struct {
	IsConst func(name string) bool
	IsPkg   func(name string) bool
}

// Go returns code with the go statements under roots rewritten so that the
// new goroutine runs `recoverStmt` deferred first (e.g.
// "defer func() { guard.Panic(recover()) }()"), and whether there were any.
func Go(code string, roots []Root, recoverStmt string, names Names) (string, bool) {
	g := &goRewriter{code: code, recoverStmt: recoverStmt, names: names}
	for _, r := range roots {
		ast.Inspect(r.Node, func(n ast.Node) bool {
			if gs, ok := n.(*ast.GoStmt); ok {
				g.sites = append(g.sites, goSite{gs, r.Offset, r.Offset(gs.Pos()), r.Offset(gs.End())})
			}
			return true
		})
	}
	if len(g.sites) == 0 {
		return code, false
	}
	sort.Slice(g.sites, func(i, j int) bool { return g.sites[i].start < g.sites[j].start })
	return g.render(0, len(code)), true
}

// goSite is a go statement found in the source, with its byte range.
type goSite struct {
	stmt       *ast.GoStmt
	offset     func(token.Pos) int
	start, end int
}

// goRewriter rewrites the go statements of one text.
type goRewriter struct {
	code        string
	recoverStmt string
	sites       []goSite
	names       Names
}

// render returns code[start:end] with the go statements in it rewritten.
func (g *goRewriter) render(start, end int) string {
	var b strings.Builder
	pos := start
	for _, site := range g.sites {
		if site.start < pos || site.end > end {
			continue // outside, or inside one already rewritten
		}
		b.WriteString(g.code[pos:site.start])
		b.WriteString(g.rewrite(site))
		pos = site.end
	}
	b.WriteString(g.code[pos:end])
	return b.String()
}

// rewrite returns the replacement of one go statement.
func (g *goRewriter) rewrite(site goSite) string {
	call, off := site.stmt.Call, site.offset
	text := func(n ast.Node) string { return g.render(off(n.Pos()), off(n.End())) }
	if lit, ok := ast.Unparen(call.Fun).(*ast.FuncLit); ok && lit.Body != nil {
		brace := off(lit.Body.Lbrace) + 1
		return g.render(site.start, brace) + " " + g.recoverStmt + ";" + g.render(brace, site.end)
	}
	var names, values, args []string
	fun := text(call.Fun)
	if !g.stable(call.Fun) {
		names, values = append(names, "__gompiF"), append(values, fun)
		fun = "__gompiF"
	}
	for i, a := range call.Args {
		if g.constant(a) {
			args = append(args, text(a))
			continue
		}
		name := fmt.Sprintf("__gompiA%d", i)
		names, values, args = append(names, name), append(values, text(a)), append(args, name)
	}
	ellipsis := ""
	if call.Ellipsis.IsValid() {
		ellipsis = "..."
	}
	var b strings.Builder
	b.WriteString("{ ")
	if len(names) > 0 {
		b.WriteString(strings.Join(names, ", ") + " := " + strings.Join(values, ", ") + "; ")
	}
	b.WriteString("go func() { " + g.recoverStmt + "; " + fun + "(" + strings.Join(args, ", ") + ellipsis + ") }()")
	// Keep the line count: the pieces moved keep their own newlines, the
	// syntax dropped between them gives its newlines back here.
	if n := strings.Count(g.code[site.start:site.end], "\n") - strings.Count(b.String(), "\n"); n > 0 {
		b.WriteString(strings.Repeat("\n", n))
	}
	b.WriteString(" }")
	return b.String()
}

// stable tells whether a called function expression may be evaluated in the
// new goroutine instead: a name, or a function of a package. A method value
// (x.M) binds its receiver now, so it is not.
func (g *goRewriter) stable(e ast.Expr) bool {
	switch e := ast.Unparen(e).(type) {
	case *ast.Ident:
		return true
	case *ast.SelectorExpr:
		id, ok := e.X.(*ast.Ident)
		return ok && id.Obj == nil && g.isPkg(id.Name) //nolint:staticcheck // parser resolution
	}
	return false
}

// constant tells whether an argument is a constant, which must stay in place
// to keep its untyped-constant conversion to the parameter type.
func (g *goRewriter) constant(e ast.Expr) bool {
	switch e := ast.Unparen(e).(type) {
	case *ast.BasicLit:
		return true
	case *ast.UnaryExpr:
		return g.constant(e.X)
	case *ast.BinaryExpr:
		return g.constant(e.X) && g.constant(e.Y)
	case *ast.Ident:
		switch {
		case e.Obj != nil: //nolint:staticcheck // parser resolution
			return e.Obj.Kind == ast.Con //nolint:staticcheck // parser resolution
		case e.Name == "nil" || e.Name == "true" || e.Name == "false" || e.Name == "iota":
			return true
		}
		return g.isConst(e.Name)
	case *ast.SelectorExpr:
		id, ok := e.X.(*ast.Ident)
		// pkg.Name: a package constant (math.Pi) must stay; a package
		// variable may stay.
		return ok && id.Obj == nil && g.isPkg(id.Name) //nolint:staticcheck // parser resolution
	}
	return false
}

func (g *goRewriter) isConst(name string) bool {
	return g.names.IsConst != nil && g.names.IsConst(name)
}

func (g *goRewriter) isPkg(name string) bool {
	return g.names.IsPkg != nil && g.names.IsPkg(name)
}
