package session

import (
	"fmt"
	"reflect"

	"github.com/gompi-kernel/gompi-kernel/internal/gorewrite"
	"github.com/traefik/yaegi/interp"
)

// A panic in a goroutine that yaegi started for a `go` statement is not
// recovered by anything: it kills the process, and with it every MPI rank.
// So every go statement of a cell is rewritten (internal/gorewrite) to
// recover in the new goroutine and report the panic on the cell's stderr.

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

// rewriteGo returns the cell with its go statements rewritten, and whether
// there were any.
func rewriteGo(code string, p *plan, isConst, isPkg func(string) bool) (string, bool) {
	roots := make([]gorewrite.Root, len(p.roots))
	for i, r := range p.roots {
		roots[i] = gorewrite.Root{Node: r.node, Offset: r.offset}
	}
	return gorewrite.Go(code, roots, recoverGo, gorewrite.Names{IsConst: isConst, IsPkg: isPkg})
}

// GoPanic reports r, a value recovered in a goroutine or callback that a
// cell's compiled code started (see package compile's guard), as the
// interpreter's own go statements report theirs; nil is ignored.
func (s *Session) GoPanic(r any) { s.goPanic(r) }
