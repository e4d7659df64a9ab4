package compile

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log"
	"path"
	"reflect"
	"sort"
	"strconv"
	"time"

	"github.com/gompi-kernel/gompi-kernel/internal/gorewrite"
	"github.com/gompi-kernel/gompi-kernel/kernel/session"
)

// Compiled code runs in the kernel's process: a panic in a goroutine it
// starts, or in a callback the standard library runs on a goroutine of its
// own (time.AfterFunc, context.AfterFunc), would kill the process and with
// it every MPI rank. So compiled code is guarded as the interpreter's cells
// are: before the build, each go statement is rewritten to recover in the
// new goroutine (internal/gorewrite), and each use of those callback
// functions goes through a wrapper that recovers in the callback. What is
// recovered is reported on the cell's stderr by the kernel (GuardSymbols),
// and the rank goes on. (net/http recovers its handlers' panics itself.)
// os.Exit and the log package's Fatal, Fatalf and Fatalln go through the
// guard as well: they end the cell with an Exit error, as in an interpreted
// cell (session.Exit), instead of ending the process, and with it the job,
// when a cell calls a compiled function that exits. (A *log.Logger's Fatal
// method still ends the process: a method call on a value cannot be told
// apart by the rewrite.)

// The guard is a kernel package given to compiled code through a shim,
// like gompi/mpi; its name is one no cell uses by accident.
const (
	guardPath = "gompi/guard"
	guardName = "gompi_guard"
	// GuardKey is the guard's key in the shims given to NewBuilder and
	// Loader.Open.
	GuardKey   = guardPath + "/" + guardName
	recoverStm = "defer func() { " + guardName + ".GoPanic(recover()) }()"
)

// guardedFuncs are the standard functions that go through the guard: those
// whose callback runs on a goroutine of its own, os.Exit and log.Fatal*.
// Import path, function, and the guard's wrapper.
var guardedFuncs = []struct{ pkg, fn, wrapper string }{
	{"time", "AfterFunc", "AfterFunc"},
	{"context", "AfterFunc", "ContextAfterFunc"},
	{"os", "Exit", "Exit"},
	{"log", "Fatal", "LogFatal"},
	{"log", "Fatalf", "LogFatalf"},
	{"log", "Fatalln", "LogFatalln"},
}

// GuardSymbols is the kernel's side of the guard: report receives every
// value recovered in a goroutine or callback of compiled code (nil is
// never passed).
func GuardSymbols(report func(any)) map[string]reflect.Value {
	goPanic := func(r any) {
		if r != nil {
			report(r)
		}
	}
	recovering := func(f func()) func() {
		return func() {
			defer func() { goPanic(recover()) }()
			f()
		}
	}
	return map[string]reflect.Value{
		"GoPanic": reflect.ValueOf(goPanic),
		// AfterFunc(time.AfterFunc) is time.AfterFunc with a guarded
		// callback: the original is passed in so that the cell's import of
		// "time" stays used.
		"AfterFunc": reflect.ValueOf(func(orig func(time.Duration, func()) *time.Timer) func(time.Duration, func()) *time.Timer {
			return func(d time.Duration, f func()) *time.Timer { return orig(d, recovering(f)) }
		}),
		"ContextAfterFunc": reflect.ValueOf(func(orig func(context.Context, func()) func() bool) func(context.Context, func()) func() bool {
			return func(ctx context.Context, f func()) func() bool { return orig(ctx, recovering(f)) }
		}),
		// Exit(os.Exit) is the cells' os.Exit (session.Exit).
		"Exit": reflect.ValueOf(func(orig func(int)) func(int) { return session.Exit }),
		// LogFatal(log.Fatal) writes what log.Fatal writes, to the cell's
		// stderr, then exits as the cells' os.Exit does.
		"LogFatal": reflect.ValueOf(func(orig func(...any)) func(...any) {
			return func(v ...any) { logFatal(fmt.Sprint(v...)) }
		}),
		"LogFatalf": reflect.ValueOf(func(orig func(string, ...any)) func(string, ...any) {
			return func(f string, v ...any) { logFatal(fmt.Sprintf(f, v...)) }
		}),
		"LogFatalln": reflect.ValueOf(func(orig func(...any)) func(...any) {
			return func(v ...any) { logFatal(fmt.Sprintln(v...)) }
		}),
	}
}

// logFatal is log.Fatal's end for compiled cells: the message through the
// standard logger, which Loader.Bind points at the session's capture, then
// the cells' exit.
func logFatal(msg string) {
	_ = log.Output(4, msg)
	session.Exit(1)
}

// guardSource returns body (a cell's code, as planCell holds it) with its
// go statements and guarded callbacks rewritten to go through the guard,
// and whether anything was. Lines are kept; columns after a rewrite on the
// same line shift. A body that does not parse is returned as it is (the
// build reports the error).
func guardSource(body string, std map[string]string) (string, bool) {
	const prefix = "package main\n"
	fset := token.NewFileSet()
	// With object resolution: a local name that shadows a package, or a
	// constant of this file, must be told apart.
	f, err := parser.ParseFile(fset, cellFile, prefix+body, 0)
	if err != nil {
		return body, false
	}
	tf := fset.File(f.Pos())
	offset := func(p token.Pos) int { return tf.Offset(p) - len(prefix) }
	imported := importNames(f)
	consts := map[string]bool{}
	for _, d := range f.Decls {
		if gd, ok := d.(*ast.GenDecl); ok && gd.Tok == token.CONST {
			for _, s := range gd.Specs {
				for _, n := range s.(*ast.ValueSpec).Names {
					consts[n.Name] = true
				}
			}
		}
	}
	// pkgOf is the import path a name stands for in this file, if it is
	// not bound to anything else: an import, or a standard package the
	// build imports by itself (autoImports).
	pkgOf := func(id *ast.Ident) (string, bool) {
		if id.Obj != nil || consts[id.Name] { //nolint:staticcheck // parser resolution
			return "", false
		}
		if p, ok := imported[id.Name]; ok {
			return p, true
		}
		p, ok := std[id.Name]
		return p, ok && !locallyBound(f, id)
	}
	// The callbacks first: their edits are plain replacements of a
	// selector, which the go rewrite below keeps (it copies the text of
	// what it moves).
	type edit struct {
		start, end int
		text       string
	}
	var edits []edit
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		id, ok := sel.X.(*ast.Ident)
		if !ok {
			return true
		}
		p, ok := pkgOf(id)
		if !ok {
			return true
		}
		for _, c := range guardedFuncs {
			if p == c.pkg && sel.Sel.Name == c.fn {
				text := body[offset(sel.Pos()):offset(sel.End())]
				edits = append(edits, edit{offset(sel.Pos()), offset(sel.End()), guardName + "." + c.wrapper + "(" + text + ")"})
			}
		}
		return true
	})
	out := body
	sort.Slice(edits, func(i, j int) bool { return edits[i].start > edits[j].start })
	for _, e := range edits {
		out = out[:e.start] + e.text + out[e.end:]
	}
	if len(edits) > 0 {
		// The go statements are found in the edited text.
		fset = token.NewFileSet()
		if f, err = parser.ParseFile(fset, cellFile, prefix+out, 0); err != nil {
			return body, false
		}
		tf = fset.File(f.Pos())
	}
	names := gorewrite.Names{
		IsConst: func(n string) bool { return consts[n] },
		IsPkg: func(n string) bool {
			_, imp := imported[n]
			_, s := std[n]
			return imp || s || n == guardName
		},
	}
	out, rewritten := gorewrite.Go(out, []gorewrite.Root{{Node: f, Offset: func(p token.Pos) int { return tf.Offset(p) - len(prefix) }}}, recoverStm, names)
	return out, rewritten || len(edits) > 0
}

// importNames maps the names a file's imports bind to their paths.
func importNames(f *ast.File) map[string]string {
	out := map[string]string{}
	for _, im := range f.Imports {
		p, err := strconv.Unquote(im.Path.Value)
		if err != nil {
			continue
		}
		name := path.Base(p) // for a standard package, its name
		if im.Name != nil {
			name = im.Name.Name
		}
		if name != "_" && name != "." {
			out[name] = p
		}
	}
	return out
}
