// Package session runs one rank's Go cells in a yaegi interpreter.
//
// A Session knows nothing of Jupyter or MPI: it executes cells, streams
// their output to two writers and reports a Result; the kernel fans cells
// out to the ranks and gathers what the sessions report.
package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/token"
	"io"
	"os"
	"path"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/traefik/yaegi/interp"
	"github.com/traefik/yaegi/stdlib"
)

// Options configure a session.
type Options struct {
	// Rank and Size of this rank; informative for the session itself.
	Rank, Size int
	// Exports are extra compiled packages, keyed like yaegi's stdlib
	// ("gompi/mpi/mpi" is package mpi at import path "gompi/mpi").
	Exports interp.Exports
	// Docs says where inspection finds the documentation of packages in
	// Exports that the kernel binds from Go values (gompi/mpi is the
	// methods of several types), by import path.
	Docs map[string]DocSource
	// PreImport lists import paths imported before the first cell.
	PreImport []string
	// Stdout and Stderr receive the cells' output while it is written.
	// Writes to each never overlap (one at a time, from the capture's
	// reader or from the end of a cell); nil discards.
	Stdout, Stderr io.Writer
	// Args is os.Args as cells see it (a script's name and arguments);
	// empty means {"gompi-kernel"}.
	Args []string
	// Input, if set, answers the cells' reads of standard input
	// (fmt.Scan*, bufio on os.Stdin) one line at a time: on rank 0 the
	// kernel asks the frontend. Without it such reads get an error
	// wrapping io.EOF.
	Input func(prompt string, password bool) (string, error)
}

// Session is one rank's interpreter. Execute and Reset are serialized;
// Complete and Inspect may be called at any time.
type Session struct {
	opts Options
	pkgs *pkgIndex

	out, errs *stream      // the cells' stdout and stderr
	streams   *cellStreams // os.Stdout and os.Stderr as cells see them
	stdin     *os.File     // os.Stdin for cells: /dev/null, ranks have no terminal
	diag      *diagSink    // yaegi's own stderr: panic trace lines
	intr      *interrupter

	// docIndex caches the sources that inspection reads, for the
	// session's lifetime (made on first use).
	docOnce  sync.Once
	docIndex *docIndex

	run    sync.Mutex // held by Execute and Reset
	blocks int        // hidden functions made by statementPieces (under run)

	mu             sync.Mutex // guards what follows
	ip             *interp.Interpreter
	imported       map[string]string // name bound in the cells' scope -> import path
	globals        map[string]bool   // names declared by cells
	consts         map[string]bool   // the constants among globals
	displayMethods map[string]bool   // display method names declared by cells
	closed         bool

	// For naming types and places in errors (typenames.go, panics.go).
	types         *typeTable                  // cell struct types -> names
	declOrder     map[string]int              // name -> when a cell last declared it
	declSeq       int                         // counter for declOrder
	stringers     map[string]bool             // cell types with Error or String methods
	methodHelpers map[methodKey]reflect.Value // Error/String callers, nil Value: none
	funcExec      map[string]int              // function name -> execution that declared it
	execs         int                         // executions so far (ExecuteCell)
	execLabels    map[int]string              // execution -> the kernel's label ("cell 6")
}

// New starts a session with a fresh interpreter.
func New(opts Options) (*Session, error) {
	s := &Session{opts: opts, intr: newInterrupter(), diag: &diagSink{}}
	s.pkgs = newPkgIndex(stdlib.Symbols, opts.Exports)
	var err error
	if s.out, err = newStream(opts.Stdout); err != nil {
		return nil, err
	}
	if s.errs, err = newStream(opts.Stderr); err != nil {
		_ = s.out.close()
		return nil, err
	}
	if s.stdin, err = os.Open(os.DevNull); err != nil {
		_ = s.out.close()
		_ = s.errs.close()
		return nil, fmt.Errorf("session: stdin: %w", err)
	}
	if s.streams, err = newCellStreams(s.out.w, s.errs.w); err != nil {
		_ = s.Close()
		return nil, err
	}
	if err := s.Reset(); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// args is os.Args for cells.
func (s *Session) args() []string {
	if len(s.opts.Args) > 0 {
		return s.opts.Args
	}
	return []string{"gompi-kernel"}
}

// Reset replaces the interpreter by a fresh one with the same options.
// Goroutines started by earlier cells keep running in the old one.
func (s *Session) Reset() error {
	s.run.Lock()
	defer s.run.Unlock()
	in := &stdinReader{s: s}
	ip := interp.New(interp.Options{
		Stdin:  in, // fmt.Scan* read it; os.Stdin itself is set in overrides
		Stdout: s.out.w,
		Stderr: s.diag,
		Args:   s.args(),
		Env:    os.Environ(),
	})
	for _, x := range []interp.Exports{stdlib.Symbols, overrides(s.stdin, s.streams, s.intr), s.inputExports(in), s.hiddenExports(), s.callbackExports(), s.opts.Exports} {
		if err := ip.Use(x); err != nil {
			return fmt.Errorf("session: load symbols: %w", err)
		}
	}
	s.mu.Lock()
	s.ip = ip
	s.imported = map[string]string{}
	s.globals = map[string]bool{}
	s.consts = map[string]bool{}
	s.displayMethods = map[string]bool{}
	s.types = nil
	s.declOrder = map[string]int{}
	s.stringers = map[string]bool{}
	s.methodHelpers = map[methodKey]reflect.Value{}
	s.funcExec = map[string]int{}
	s.execLabels = map[int]string{}
	s.mu.Unlock()
	if _, err := ip.Eval(importSource(hiddenName, hiddenPkg)); err != nil {
		return fmt.Errorf("session: hidden import: %w", err)
	}
	for _, p := range s.opts.PreImport {
		if e := s.importPackage(context.Background(), "", p, 0, 0); e != nil {
			return fmt.Errorf("session: pre-import %s: %w", p, e)
		}
	}
	return nil
}

// Close releases the output pipes after delivering pending output. A
// closed session must not be used.
func (s *Session) Close() error {
	s.run.Lock()
	defer s.run.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	// The cells' duplicates first: the pipes reach end of file only when
	// every write end is closed.
	var errs []error
	if s.streams != nil {
		errs = append(errs, s.streams.close())
	}
	return errors.Join(append(errs, s.out.close(), s.errs.close(), s.stdin.Close())...)
}

// Execute runs a cell. It never panics; cancelling ctx interrupts the cell.
// All output the cell wrote has been handed to the writers when it returns.
func (s *Session) Execute(ctx context.Context, code string) Result {
	return s.ExecuteCell(ctx, "", code)
}

// ExecuteCell is Execute for a cell the kernel labels, e.g. "cell 6" for
// execution count 6: a panic's frames in functions this cell declares say
// "cell 6, line 2" when a later cell calls them. (The failing cell's own
// frames carry no label; Fold adds the label the kernel gives it.)
func (s *Session) ExecuteCell(ctx context.Context, label, code string) (res Result) {
	s.run.Lock()
	defer s.run.Unlock()
	s.mu.Lock()
	s.execs++
	if label != "" {
		s.execLabels[s.execs] = label
	}
	s.mu.Unlock()
	s.intr.arm()
	stop := context.AfterFunc(ctx, s.intr.fire)
	defer stop()
	defer func() {
		if r := recover(); r != nil {
			res = Result{Err: newError(ErrInternal, fmt.Sprintf("session: %v", r), nil)}
		}
		// Output first, so that it precedes the result downstream.
		if err := errors.Join(s.out.sync(), s.errs.sync()); err != nil && res.Err == nil {
			res.Err = newError(ErrInternal, err.Error(), nil)
		}
	}()
	if err := s.streams.restore(); err != nil {
		return Result{Err: newError(ErrInternal, err.Error(), nil)}
	}
	res = s.execute(ctx, code)
	if res.Err != nil && len(res.Err.Frames) > 0 && strings.HasPrefix(strings.TrimSpace(code), "__gompi") {
		// Code of the kernel's own (a script's renamed main called by
		// modes/script.go): its top level means nothing to the user.
		res.Err = withoutTopLevel(res.Err)
	}
	return res
}

// withoutTopLevel drops the frames at the top level of the failing cell.
func withoutTopLevel(e *Error) *Error {
	var frames []Frame
	for _, f := range e.Frames {
		if f.Func != "" || f.Cell != "" {
			frames = append(frames, f)
		}
	}
	if len(frames) == len(e.Frames) {
		return e
	}
	return newError(e.Name, e.Value, frames)
}

func (s *Session) execute(ctx context.Context, code string) Result {
	p, err := splitCellUnresolved(code)
	if err != nil {
		return Result{Err: newError(ErrCompile, err.Error(), nil)}
	}
	resolved := s.needsResolution(p)
	if resolved {
		if p, err = splitCell(code); err != nil {
			return Result{Err: newError(ErrInternal, "parsing again with identifiers resolved: "+err.Error(), nil)}
		}
	}
	if rewritten, ok := rewriteGo(code, p, s.isConst, s.isPackage); ok {
		if p, err = splitCell(rewritten); err != nil {
			return Result{Err: newError(ErrInternal, "rewriting go statements: "+err.Error(), nil)}
		}
	}
	for _, it := range p.imports {
		if e := s.importPackage(ctx, it.name, it.path, it.line, it.col); e != nil {
			return Result{Err: e}
		}
	}
	// Unresolved, the plan had no package to import (needsResolution).
	if resolved {
		if e := s.autoImport(ctx, p); e != nil {
			return Result{Err: e}
		}
	}
	for _, c := range p.chunks {
		if ctx.Err() != nil {
			return Result{Err: interrupted(ctx)}
		}
		switch c.kind {
		case chunkDecl:
			s.declare(c.decls)
		case chunkExpr:
			c, e := s.nameFuncLit(ctx, c)
			if e != nil {
				return Result{Err: e}
			}
			src, show, e := s.finalSource(ctx, c)
			if e == nil {
				var v reflect.Value
				if v, e = s.eval(ctx, src); e == nil && show {
					return Result{Data: s.display(ctx, v)}
				}
			}
			return Result{Err: s.explainUndefined(c, e)}
		}
		for _, src := range s.statementPieces(c) {
			if _, e := s.eval(ctx, src); e != nil {
				return Result{Err: e}
			}
		}
		s.remember(c)
		if c.kind == chunkDecl {
			s.noteTypes(c.decls)
		}
	}
	return Result{}
}

// yaegiFile is the file name yaegi gives cell source. Line directives in
// chunks must keep it: yaegi keys imported package names by the base name of
// the file an identifier appears in, and strips it from error positions.
const yaegiFile = interp.DefaultSourceName

// resultVar is the hidden global holding the value of a final expression.
const resultVar = "__gompiResult"

// importPackage imports a package into the cells' scope unless the same
// import was done before (yaegi rejects a second one).
func (s *Session) importPackage(ctx context.Context, name, ipath string, line, col int) *Error {
	bind := name
	if bind == "" {
		if n, ok := s.pkgs.names[ipath]; ok {
			bind = n
		} else {
			bind = path.Base(ipath)
		}
	}
	key := bind
	if bind == "_" || bind == "." {
		key = bind + ipath
	}
	s.mu.Lock()
	old, done := s.imported[key]
	s.mu.Unlock()
	if done && old == ipath {
		return nil
	}
	src := importSource(name, ipath)
	if line > 0 {
		src = lineDirective(yaegiFile, line, col) + src
	}
	if _, e := s.eval(ctx, src); e != nil {
		return e
	}
	s.mu.Lock()
	s.imported[key] = ipath
	s.mu.Unlock()
	return nil
}

// isConst tells whether name is a constant declared by an earlier cell.
func (s *Session) isConst(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.consts[name]
}

// isPackage tells whether name, unresolved in a cell, denotes a package.
func (s *Session) isPackage(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.imported[name]; ok {
		return true
	}
	_, known := s.pkgs.byName[name]
	return known && !s.globals[name]
}

// autoImport imports the packages a cell uses without importing them, as
// goimports would: a selector X.Sel where X is not declared by the cell or an
// earlier cell, not imported, and is the name of a known package.
func (s *Session) autoImport(ctx context.Context, p *plan) *Error {
	for _, name := range s.packagesToImport(p) {
		if e := s.importPackage(ctx, "", s.pkgs.byName[name], 0, 0); e != nil {
			return e
		}
	}
	return nil
}

// packagesToImport returns, sorted, the names of the packages autoImport
// imports for p. For a plan without resolved identifiers
// (splitCellUnresolved) it is a superset: a local variable that shadows a
// package name counts too.
func (s *Session) packagesToImport(p *plan) []string {
	var nodes []ast.Node
	for _, c := range p.chunks {
		for _, d := range c.decls {
			nodes = append(nodes, d)
		}
		for _, st := range c.stmts {
			nodes = append(nodes, st)
		}
		if c.expr != nil {
			nodes = append(nodes, c.expr)
		}
	}
	declared := declaredNames(p)
	for _, it := range p.imports {
		declared[it.name] = true
		declared[s.pkgs.names[it.path]] = true
	}
	var names []string
	s.mu.Lock()
	for name := range usedPackages(nodes) {
		if _, imported := s.imported[name]; imported || declared[name] || s.globals[name] {
			continue
		}
		if _, known := s.pkgs.byName[name]; known {
			names = append(names, name)
		}
	}
	s.mu.Unlock()
	sort.Strings(names)
	return names
}

// needsResolution reports whether executing p looks at the parser's
// resolution of identifiers (ast.Ident.Obj), which splitCellUnresolved
// leaves out: rewriting go statements (gorewrite tells a package from a
// local variable), showing a final call of a builtin the cell may have
// shadowed (finalSource), and importing a package the cell names without
// importing it (autoImport). A trivial cell needs none of these.
func (s *Session) needsResolution(p *plan) bool {
	for _, c := range p.chunks {
		if c.kind != chunkExpr {
			continue
		}
		if call, ok := ast.Unparen(c.expr).(*ast.CallExpr); ok {
			if id, ok := ast.Unparen(call.Fun).(*ast.Ident); ok {
				if _, known := builtinShows(id.Name); known {
					return true
				}
			}
		}
	}
	goStmt := false
	for _, r := range p.roots {
		ast.Inspect(r.node, func(n ast.Node) bool {
			if _, ok := n.(*ast.GoStmt); ok {
				goStmt = true
			}
			return !goStmt
		})
	}
	return goStmt || len(s.packagesToImport(p)) > 0
}

// declare prepares the interpreter for a chunk of declarations: types
// declared again are forgotten first (see forgetGlobal), and display methods
// are noted for display.
func (s *Session) declare(decls []ast.Decl) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range decls {
		switch d := d.(type) {
		case *ast.GenDecl:
			for _, sp := range d.Specs {
				if ts, ok := sp.(*ast.TypeSpec); ok {
					forgetGlobal(s.ip, ts.Name.Name)
				}
			}
		case *ast.FuncDecl:
			if d.Recv != nil && displayMIME(d.Name.Name) != "" {
				s.displayMethods[d.Name.Name] = true
			}
		}
	}
}

// remember records the names an evaluated chunk declared.
func (s *Session) remember(c chunk) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range c.decls {
		isConst := false
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
			isConst = true
		}
		for _, n := range declNames(d) {
			s.globals[n] = true
			s.consts[n] = isConst
			s.declSeq++
			s.declOrder[n] = s.declSeq
			if f, ok := d.(*ast.FuncDecl); ok && f.Recv == nil {
				s.funcExec[n] = s.execs
			}
		}
	}
	for _, st := range c.stmts {
		for _, n := range defineNames(st) {
			s.globals[n] = true
			s.consts[n] = false
		}
	}
}

// eval compiles and runs one chunk of source in the interpreter.
func (s *Session) eval(ctx context.Context, src string) (v reflect.Value, e *Error) {
	s.mu.Lock()
	ip := s.ip
	s.mu.Unlock()
	s.diag.reset()
	base := ip.FileSet().Base()
	prog, err := compile(ip, src)
	if err != nil {
		var ie *Error
		if errors.As(err, &ie) {
			return v, ie
		}
		return v, newError(ErrCompile, s.NameTypes(err.Error()), nil)
	}
	growFrame(ip)
	v, err = runChunk(ctx, ip, prog)
	if errors.Is(err, errStillRunning) {
		// What forgetCompiled drops the running code may still reach.
		return reflect.Value{}, newError(ErrInterrupted, "interrupted: "+err.Error(), nil)
	}
	forgetCompiled(ip)
	forgetFiles(ip, base, src)
	if err != nil || ctx.Err() != nil {
		return reflect.Value{}, s.classify(ctx, err, s.diag.String())
	}
	return v, nil
}

// compile compiles src, turning a panic inside yaegi's compiler into an
// InternalError: yaegi has such bugs (for i := range 5 is one).
func compile(ip *interp.Interpreter, src string) (prog *interp.Program, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = newError(ErrInternal, fmt.Sprintf("the interpreter failed on this code: %v "+
				"(yaegi v0.16.1 knows Go 1.21: no range over an int or a function, no min, max, clear)", r), nil)
		}
	}()
	return ip.Compile(src)
}

// diagSink collects what yaegi writes to its own stderr (the trace lines of
// a panic, one per interpreted frame).
type diagSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (d *diagSink) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.buf.Len() < 64*1024 {
		d.buf.Write(p)
	}
	return len(p), nil
}

func (d *diagSink) reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.buf.Reset()
}

func (d *diagSink) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.buf.String()
}
