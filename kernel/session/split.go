package session

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"sort"
	"strconv"
	"strings"
)

// A cell is Go code that mixes what a file holds (imports, declarations)
// with what a function body holds (statements). yaegi evaluates only one
// kind per Eval (yaegi issue 1245), so a cell is cut into ordered chunks:
// its imports first (Go requires them first, and they must be bound before
// any use), then the runs of consecutive declarations and statements in
// source order. A final expression statement becomes a chunk of its own so
// that its value can be shown.

type chunkKind int

const (
	chunkDecl chunkKind = iota // type, var, const and func declarations
	chunkStmt                  // statements, run as the body of a function
	chunkExpr                  // the cell's final expression statement
)

// chunk is a run of same-kind source from a cell.
type chunk struct {
	kind      chunkKind
	text      string              // the cell's source for the run
	line, col int                 // position of text[0] in the cell (1-based, col in bytes)
	decls     []ast.Decl          // chunkDecl
	stmts     []ast.Stmt          // chunkStmt
	spans     []span              // chunkStmt: each statement's bytes in the cell
	start     int                 // byte offset of text in the cell
	expr      ast.Expr            // chunkExpr
	cell      string              // chunkExpr: the whole cell
	offset    func(token.Pos) int // chunkExpr: byte offset in cell of a position in expr
}

// importItem is one import spec of a cell.
type importItem struct {
	name, path string // name is "" without an explicit name
	line, col  int
}

// plan is a cell cut into what Execute evaluates, in order.
type plan struct {
	imports []importItem
	chunks  []chunk
	roots   []root // every parsed piece, for rewrites
}

// root is a parsed piece of a cell and the map from its positions to byte
// offsets in the cell.
type root struct {
	node   ast.Node
	offset func(token.Pos) int
}

// cellFile is the file name used in positions; errors print positions
// relative to the cell ("3:5: undefined: x").
const cellFile = "cell"

// lineDirective maps the position of the next character to the cell's
// line:col, so that errors found in wrapped source point into the cell.
func lineDirective(file string, line, col int) string {
	// Concatenation, not Sprintf: every cell makes two of these.
	return "/*line " + file + ":" + strconv.Itoa(line) + ":" + strconv.Itoa(col) + "*/"
}

// syntaxError is a cell that does not parse.
type syntaxError struct{ list scanner.ErrorList }

func (e *syntaxError) Error() string {
	msgs := make([]string, 0, len(e.list))
	for i, err := range e.list {
		if i == 10 {
			msgs = append(msgs, "(more errors)")
			break
		}
		msgs = append(msgs, fmt.Sprintf("%d:%d: %s", err.Pos.Line, err.Pos.Column, err.Msg))
	}
	return strings.Join(msgs, "\n")
}

// tok is one token of a cell; off and end are byte offsets.
type tok struct {
	off, end int
	tok      token.Token
}

// scanCell returns the tokens of code, semicolons included.
func scanCell(code string) []tok {
	fset := token.NewFileSet()
	file := fset.AddFile("", -1, len(code))
	var s scanner.Scanner
	s.Init(file, []byte(code), func(token.Position, string) {}, 0)
	var toks []tok
	for {
		pos, t, lit := s.Scan()
		if t == token.EOF {
			return toks
		}
		off := file.Offset(pos)
		end := off + len(t.String())
		switch {
		case t == token.SEMICOLON:
			end = off
			if lit == ";" {
				end = off + 1
			}
		case lit != "":
			end = off + len(lit)
		}
		toks = append(toks, tok{off, end, t})
	}
}

// span is a byte range of a cell holding one top-level item.
type span struct{ start, end int }

// topLevelItems finds the items that cannot appear in a function body:
// import declarations, function/method declarations and a package clause.
// Everything else is left for the parser, which knows Go's statement syntax.
func topLevelItems(toks []tok) (imports, funcs, pkgs []span) {
	depth := 0
	atStart := true
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if atStart && depth == 0 && (t.tok == token.IMPORT || t.tok == token.PACKAGE ||
			(t.tok == token.FUNC && isFuncDecl(toks, i))) {
			j, end := itemEnd(toks, i)
			sp := span{t.off, end}
			switch t.tok {
			case token.IMPORT:
				imports = append(imports, sp)
			case token.PACKAGE:
				pkgs = append(pkgs, sp)
			default:
				funcs = append(funcs, sp)
			}
			i = j // the semicolon ending the item
			atStart = true
			continue
		}
		switch t.tok {
		case token.LPAREN, token.LBRACK, token.LBRACE:
			depth++
		case token.RPAREN, token.RBRACK, token.RBRACE:
			depth--
		}
		atStart = t.tok == token.SEMICOLON && depth == 0
	}
	return imports, funcs, pkgs
}

// itemEnd returns the index of the semicolon (or len) ending the item that
// starts at toks[i], and the byte offset of the item's end.
func itemEnd(toks []tok, i int) (int, int) {
	depth := 0
	end := toks[i].end
	for ; i < len(toks); i++ {
		t := toks[i]
		switch t.tok {
		case token.LPAREN, token.LBRACK, token.LBRACE:
			depth++
		case token.RPAREN, token.RBRACK, token.RBRACE:
			depth--
		case token.SEMICOLON:
			if depth <= 0 {
				return i, end
			}
		}
		end = t.end
	}
	return i, end
}

// isFuncDecl tells a function declaration ("func f(", "func (r T) m(")
// from a statement starting with a function literal ("func() {…}()").
func isFuncDecl(toks []tok, i int) bool {
	at := func(k int) token.Token {
		if k < len(toks) {
			return toks[k].tok
		}
		return token.EOF
	}
	switch at(i + 1) {
	case token.IDENT:
		return true
	case token.LPAREN:
		depth := 0
		for k := i + 1; k < len(toks); k++ {
			switch toks[k].tok {
			case token.LPAREN:
				depth++
			case token.RPAREN:
				depth--
				if depth == 0 {
					return at(k+1) == token.IDENT && (at(k+2) == token.LPAREN || at(k+2) == token.LBRACK)
				}
			}
		}
	}
	return false
}

// item is one top-level piece of a cell, in source order.
type item struct {
	span
	decl ast.Decl // a declaration, or
	stmt ast.Stmt // a statement
}

// splitCell cuts a cell into the chunks Execute evaluates. A cell that does
// not parse returns a *syntaxError with positions relative to the cell.
// Identifiers are resolved (ast.Ident.Obj, see resolve).
func splitCell(code string) (*plan, error) { return split(code, 0) }

// splitCellUnresolved is splitCell without the parser's resolution of
// identifiers: every Ident.Obj is nil. The resolver walked the whole tree
// again, ~7 % of a worker's CPU for a trivial cell at 4 ranks, and only a
// few cells need what it finds (plan.needsResolution).
func splitCellUnresolved(code string) (*plan, error) {
	return split(code, parser.SkipObjectResolution)
}

// split is splitCell with the given extra parser mode.
func split(code string, mode parser.Mode) (*plan, error) {
	toks := scanCell(code)
	imports, funcs, pkgs := topLevelItems(toks)

	// The statements and declaration statements are parsed as a function
	// body, with the items that cannot be there blanked out (spaces keep
	// every offset, newlines every line).
	blank := []byte(code)
	for _, group := range [][]span{imports, funcs, pkgs} {
		for _, sp := range group {
			for k := sp.start; k < sp.end; k++ {
				if blank[k] != '\n' {
					blank[k] = ' '
				}
			}
		}
	}
	fset := token.NewFileSet()
	prefix := "package main; func main() {" + lineDirective(cellFile, 1, 1)
	endLine, endCol := lineCol(code, len(code))
	suffix := "\n" + lineDirective(cellFile, endLine, endCol) + "}"
	f, err := parser.ParseFile(fset, cellFile, prefix+string(blank)+suffix, mode)
	if err != nil {
		return nil, asSyntaxError(err)
	}
	tf := fset.File(f.Pos())
	offset := func(p token.Pos) int { return tf.Offset(p) - len(prefix) }
	p := &plan{}
	p.roots = append(p.roots, root{f.Decls[0].(*ast.FuncDecl).Body, offset})

	var items []item
	for _, st := range f.Decls[0].(*ast.FuncDecl).Body.List {
		sp := span{offset(st.Pos()), offset(st.End())}
		switch st := st.(type) {
		case *ast.EmptyStmt:
		case *ast.DeclStmt:
			items = append(items, item{span: sp, decl: st.Decl})
		default:
			items = append(items, item{span: sp, stmt: st})
		}
	}

	var errs scanner.ErrorList
	for _, sp := range imports {
		line, col := lineCol(code, sp.start)
		file, err := parseDecls(code[sp.start:sp.end], line, col, mode)
		if err != nil {
			errs = append(errs, asSyntaxError(err).list...)
			continue
		}
		for _, spec := range file.Imports {
			path, _ := strconv.Unquote(spec.Path.Value)
			it := importItem{path: path}
			if spec.Name != nil {
				it.name = spec.Name.Name
			}
			pos := file.FileSet.Position(spec.Pos())
			it.line, it.col = pos.Line, pos.Column
			p.imports = append(p.imports, it)
		}
	}
	for _, sp := range funcs {
		line, col := lineCol(code, sp.start)
		file, err := parseDecls(code[sp.start:sp.end], line, col, mode)
		if err != nil {
			errs = append(errs, asSyntaxError(err).list...)
			continue
		}
		p.roots = append(p.roots, root{file.File, file.offset(sp.start)})
		for _, d := range file.Decls {
			items = append(items, item{span: sp, decl: d})
		}
	}
	if len(errs) > 0 {
		errs.Sort()
		return nil, &syntaxError{errs}
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].start < items[j].start })

	// A final expression statement is a chunk of its own.
	var final *item
	if n := len(items); n > 0 {
		if _, ok := items[n-1].stmt.(*ast.ExprStmt); ok {
			final = &items[n-1]
			items = items[:n-1]
		}
	}
	for i := 0; i < len(items); {
		j := i
		isDecl := items[i].decl != nil
		for j < len(items) && (items[j].decl != nil) == isDecl {
			j++
		}
		c := chunk{kind: chunkStmt, text: code[items[i].start:items[j-1].end]}
		if isDecl {
			c.kind = chunkDecl
		}
		c.line, c.col = lineCol(code, items[i].start)
		c.start = items[i].start
		for _, it := range items[i:j] {
			if isDecl {
				c.decls = append(c.decls, it.decl)
			} else {
				c.stmts = append(c.stmts, it.stmt)
				c.spans = append(c.spans, it.span)
			}
		}
		p.chunks = append(p.chunks, c)
		i = j
	}
	if final != nil {
		c := chunk{kind: chunkExpr, text: code[final.start:final.end], expr: final.stmt.(*ast.ExprStmt).X, cell: code, offset: offset}
		c.line, c.col = lineCol(code, final.start)
		p.chunks = append(p.chunks, c)
	}
	return p, nil
}

// parsedFile is a parsed piece of a cell with its file set.
type parsedFile struct {
	*ast.File
	FileSet *token.FileSet
	prefix  int // bytes of wrapper before the cell text
}

// parseDecls parses top-level declarations found at line:col of a cell.
func parseDecls(text string, line, col int, mode parser.Mode) (parsedFile, error) {
	fset := token.NewFileSet()
	prefix := "package main;" + lineDirective(cellFile, line, col)
	f, err := parser.ParseFile(fset, cellFile, prefix+text, mode)
	return parsedFile{f, fset, len(prefix)}, err
}

// offset returns the map from positions in the file to offsets in the cell,
// for a file parsed from the cell text at byte offset start.
func (f parsedFile) offset(start int) func(token.Pos) int {
	tf := f.FileSet.File(f.Pos())
	return func(p token.Pos) int { return tf.Offset(p) - f.prefix + start }
}

// asSyntaxError converts a parser error.
func asSyntaxError(err error) *syntaxError {
	var list scanner.ErrorList
	if errors.As(err, &list) {
		return &syntaxError{list}
	}
	return &syntaxError{scanner.ErrorList{{Msg: err.Error()}}}
}

// lineCol returns the 1-based line and byte column of offset off in code.
func lineCol(code string, off int) (int, int) {
	line := 1 + strings.Count(code[:off], "\n")
	return line, off - strings.LastIndexByte(code[:off], '\n')
}
