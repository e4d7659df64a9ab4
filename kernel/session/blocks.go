package session

import (
	"context"
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"strings"
)

// statementPieces returns the sources to evaluate, in order, for a run of
// top-level statements. Usually that is the run itself, in one piece. Two
// yaegi bugs at the top level of a cell (its REPL scope) call for more:
//
//   - a multi-value definition inside a block, `if ok { st, err := f() }`,
//     fails with "undefined: st" (the same code inside a function works);
//   - a function literal called as a statement, `func() {…}()`, runs again
//     on every later Eval.
//
// Such a statement is moved into a hidden named function, declared in a
// piece of its own and called in the next: `func __gompiBlock3() {…}` then
// `__gompiBlock3()`. Variables it defines were local to it anyway; the
// globals it uses are reached as any function reaches them. Line directives
// keep error positions pointing into the cell.
func (s *Session) statementPieces(c chunk) []string {
	var pieces []string
	prev := 0 // byte offset in c.text of what is not yet in a piece
	flush := func(end int) {
		if end > prev {
			rl, rc := lineCol(c.text, prev)
			pieces = append(pieces, lineDirective(yaegiFile, c.line+rl-1, colAt(c, rl, rc))+c.text[prev:end])
		}
	}
	for k, st := range c.stmts {
		if !needsFunction(st) {
			continue
		}
		start, end := c.spans[k].start-c.start, c.spans[k].end-c.start
		flush(start)
		s.blocks++
		name := fmt.Sprintf("__gompiBlock%d", s.blocks)
		rl, rc := lineCol(c.text, start)
		pieces = append(pieces,
			"func "+name+"() {"+lineDirective(yaegiFile, c.line+rl-1, colAt(c, rl, rc))+c.text[start:end]+"\n}",
			name+"()")
		prev = end
	}
	flush(len(c.text))
	return pieces
}

// colAt is the cell column of relative line rl, column rc of c.text.
func colAt(c chunk, rl, rc int) int {
	if rl == 1 {
		return c.col + rc - 1
	}
	return rc
}

// needsFunction reports whether st trips one of the yaegi bugs described at
// statementPieces.
func needsFunction(st ast.Stmt) bool {
	switch st := st.(type) {
	case *ast.ExprStmt:
		call, ok := st.X.(*ast.CallExpr)
		if !ok {
			return false
		}
		_, lit := ast.Unparen(call.Fun).(*ast.FuncLit)
		return lit
	case *ast.IfStmt, *ast.ForStmt, *ast.RangeStmt, *ast.SwitchStmt,
		*ast.TypeSwitchStmt, *ast.SelectStmt, *ast.BlockStmt:
	default:
		return false
	}
	found := false
	ast.Inspect(st, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncLit:
			return false
		case *ast.AssignStmt:
			if n.Tok == token.DEFINE && len(n.Lhs) > 1 {
				found = true
			}
		case *ast.RangeStmt:
			if n.Tok == token.DEFINE && n.Value != nil {
				found = true
			}
		}
		return !found
	})
	return found
}

// funcLitVar holds a function literal that a cell's final expression calls.
const funcLitVar = "__gompiLit"

// nameFuncLit turns a final expression that calls a function literal,
// `func() int { return 9 }()`, into `__gompiLit := func…` followed by the
// final expression `__gompiLit()`: called in place, the literal would run
// again on every later Eval (see statementPieces); called through a
// variable, it runs once and its value is shown like any call's.
func (s *Session) nameFuncLit(ctx context.Context, c chunk) (chunk, *Error) {
	call, ok := c.expr.(*ast.CallExpr)
	if !ok {
		return c, nil
	}
	lit, ok := ast.Unparen(call.Fun).(*ast.FuncLit)
	if !ok {
		return c, nil
	}
	litStart, litEnd := c.offset(lit.Pos()), c.offset(lit.End())
	line, col := lineCol(c.cell, litStart)
	def := lineDirective(yaegiFile, line, col) + funcLitVar + " := " + c.cell[litStart:litEnd]
	if _, e := s.eval(ctx, def); e != nil {
		return c, e
	}
	callText := funcLitVar + c.cell[c.offset(call.Lparen):c.offset(call.End())]
	p, err := splitCell(callText)
	if err != nil || len(p.chunks) != 1 || p.chunks[0].kind != chunkExpr {
		return c, newError(ErrInternal, fmt.Sprintf("naming a function literal: %v", err), nil)
	}
	return p.chunks[0], nil
}

// explainUndefined replaces yaegi's "constant definition loop", which it
// reports for a final expression that uses an undefined name, by what Go
// would say: "undefined: name".
func (s *Session) explainUndefined(c chunk, e *Error) *Error {
	if e == nil || !strings.Contains(e.Value, "constant definition loop") {
		return e
	}
	var name string
	var pos token.Pos
	ast.Inspect(c.expr, func(n ast.Node) bool {
		if name != "" {
			return false
		}
		switch n := n.(type) {
		case *ast.SelectorExpr:
			ast.Inspect(n.X, func(m ast.Node) bool {
				if id, ok := m.(*ast.Ident); ok && name == "" && !s.known(id.Name) {
					name, pos = id.Name, id.Pos()
				}
				return name == ""
			})
			return false
		case *ast.FuncLit, *ast.CompositeLit:
			return false
		case *ast.Ident:
			if !s.known(n.Name) {
				name, pos = n.Name, n.Pos()
			}
		}
		return true
	})
	if name == "" {
		return e
	}
	line, col := lineCol(c.cell, c.offset(pos))
	return newError(ErrCompile, fmt.Sprintf("%d:%d: undefined: %s", line, col, name), nil)
}

// known reports whether name means something in the cells' scope.
func (s *Session) known(name string) bool {
	if name == "_" || types.Universe.Lookup(name) != nil {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, imported := s.imported[name]
	return imported || s.globals[name]
}
