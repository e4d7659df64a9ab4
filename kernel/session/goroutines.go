package session

import (
	"fmt"
	"go/ast"
	"go/token"
	"reflect"
	"sort"
	"strings"

	"github.com/traefik/yaegi/interp"
)

// A panic in a goroutine that yaegi started for a `go` statement is not
// recovered by anything: it kills the process, and with it every MPI rank.
// So every go statement of a cell is rewritten to recover in the new
// goroutine and report the panic on the cell's stderr:
//
//	go func(x int) { … }(v)  ->  go func(x int) { defer RECOVER; … }(v)
//	go f(a, b)               ->  { __gompiA0, __gompiA1 := a, b; go func() { defer RECOVER; f(__gompiA0, __gompiA1) }() }
//
// The second form evaluates the function value and the arguments before
// the goroutine starts, as Go does (yaegi gets `go g()()` wrong: it
// evaluates g() in the new goroutine). Constants stay in place, so that an
// untyped constant still takes the parameter's type. No line is added or
// removed; columns after a rewritten go statement on its line shift.

// hiddenPkg is the compiled package behind the rewrite, imported under
// hiddenName in every interpreter.
const (
	hiddenPkg  = "gompi/session/hidden"
	hiddenName = "__gompi"
	recoverGo  = "defer func() { " + hiddenName + ".GoPanic(recover()) }()"
)

// hiddenExports is the package the rewritten go statements call.
func (s *Session) hiddenExports() interp.Exports {
	return interp.Exports{hiddenPkg + "/hidden": {
		"GoPanic": reflect.ValueOf(s.goPanic),
	}}
}

// goPanic reports a panic recovered in a goroutine started by a cell.
func (s *Session) goPanic(r any) {
	if r == nil {
		return
	}
	// The goroutine may panic while a later cell runs: nothing may be
	// compiled then, unless no cell is running.
	idle := s.run.TryLock()
	if idle {
		defer s.run.Unlock()
	}
	msg := "panic: " + s.panicText(r, idle) + " [recovered]\n\tin a goroutine started by a cell; the goroutine ended, the session goes on"
	if ex, ok := r.(exitSignal); ok {
		msg = fmt.Sprintf("os.Exit(%d) in a goroutine: the goroutine ended, the session goes on", ex.code)
	}
	_, _ = fmt.Fprintln(s.errs.w, msg)
}

// goSite is a go statement found in a cell, with its byte range.
type goSite struct {
	stmt       *ast.GoStmt
	offset     func(token.Pos) int
	start, end int
}

// goRewriter rewrites the go statements of one cell.
type goRewriter struct {
	code    string
	sites   []goSite
	isConst func(name string) bool // a constant of an earlier cell
	isPkg   func(name string) bool // a package name
}

// rewriteGo returns the cell with its go statements rewritten, and whether
// there were any.
func rewriteGo(code string, p *plan, isConst, isPkg func(string) bool) (string, bool) {
	g := &goRewriter{code: code, isConst: isConst, isPkg: isPkg}
	for _, r := range p.roots {
		ast.Inspect(r.node, func(n ast.Node) bool {
			if gs, ok := n.(*ast.GoStmt); ok {
				g.sites = append(g.sites, goSite{gs, r.offset, r.offset(gs.Pos()), r.offset(gs.End())})
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
		return g.render(site.start, brace) + " " + recoverGo + ";" + g.render(brace, site.end)
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
	b.WriteString("go func() { " + recoverGo + "; " + fun + "(" + strings.Join(args, ", ") + ellipsis + ") }()")
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
