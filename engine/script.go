package engine

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"strconv"
	"strings"

	"github.com/traefik/yaegi/interp"

	"github.com/gompi-kernel/gompi-kernel/compile"
	"github.com/gompi-kernel/gompi-kernel/kernel"
)

// A compiled script (gompi-kernel run): rank 0 builds the script as a
// %%compile source with package main, every rank loads it (so that the
// functions rank 0 Calls exist everywhere, by their names) and gets its
// main as gompi/script.Main; ScriptCall then runs it as a cell, on rank 0
// or on every rank, so that output, Calls, errors and the exit status go
// the way they go for an interpreted script.

// ScriptCall is the cell that runs a loaded script's main: the status the
// script gave os.Exit becomes the cell's exit, as in an interpreted script.
const ScriptCall = `import (
	"os"
	gompi_script "gompi/script"
)
if code := gompi_script.Main(); code >= 0 {
	os.Exit(code)
}`

// scriptExit is the panic value os.Exit raises in a compiled script (see
// rewriteExit); the name is looked up by reflection, since the type is the
// plugin's.
const scriptExit = "gompiExitStatus"

// LoadScript builds a script on rank 0 and loads it on every rank; then
// ScriptCall runs its main. Errors are those of a %%compile cell
// (CompileError, ToolchainError, …); nothing is printed on success.
func (c *Coordinator) LoadScript(ctx context.Context, src string, out kernel.Output) kernel.Outcome {
	src, err := prepareScript(src)
	if err != nil {
		return kernel.Outcome{Err: kernelError("CompileError", err.Error())}
	}
	var a *compile.Artifact
	err = c.builds.do(ctx, func(ctx context.Context, b *compile.Builder) (err error) {
		a, err = b.Compile(ctx, src, nil)
		return err
	})
	if err != nil {
		return kernel.Outcome{Err: buildError(err)}
	}
	if !a.Main {
		return kernel.Outcome{Err: kernelError("CompileError", "no func main() to run")}
	}
	return c.load(ctx, a, out)
}

// prepareScript makes a script's source a %%compile source: its build
// constraints (//go:build ignore keeps a script out of its directory's
// package) become plain comments, since the cell goes into a generated
// file, and os.Exit unwinds (rewriteExit). Lengths are kept, so compiler
// positions are the script's own.
func prepareScript(src string) (string, error) {
	lines := strings.SplitAfter(src, "\n")
	for i, l := range lines {
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(t, "//go:build"):
			lines[i] = strings.Replace(l, "//go:build", "//go_build", 1)
		case strings.HasPrefix(t, "// +build"):
			lines[i] = strings.Replace(l, "// +build", "// -build", 1)
		case strings.HasPrefix(t, "package "):
			return rewriteExit(strings.Join(lines, ""))
		}
	}
	return rewriteExit(src)
}

// rewriteExit makes os.Exit in a compiled script unwind instead of ending
// the process: a rank leaving without MPI_Finalize makes mpirun end the job
// with its own status, not the script's. Each os.Exit becomes _osExit (as
// long, so that compiler positions do not move), which panics with the
// status; gompi/script.Main recovers it. log.Fatal still ends the process.
func rewriteExit(src string) (string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "script.go", src, parser.SkipObjectResolution)
	if err != nil {
		return "", err
	}
	osName := ""
	for _, im := range f.Imports {
		if p, _ := strconv.Unquote(im.Path.Value); p == "os" {
			osName = "os"
			if im.Name != nil {
				osName = im.Name.Name
			}
		}
	}
	if osName == "" || osName == "_" || len(osName) != 2 {
		return src, nil // os.Exit is not called (or not as os.Exit)
	}
	b := []byte(src)
	ast.Inspect(f, func(n ast.Node) bool {
		if s, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := s.X.(*ast.Ident); ok && id.Name == osName && s.Sel.Name == "Exit" {
				copy(b[fset.Position(s.Pos()).Offset:], "_osExit")
			}
		}
		return true
	})
	return string(b) + fmt.Sprintf("\n\nvar _ = %s.Getpid\n\ntype %s int\n\nfunc _osExit(code int) { panic(%s(code)) }\n", osName, scriptExit, scriptExit), nil
}

// useScriptMain gives the session a compiled script's main as
// gompi/script.Main, which returns the status given to os.Exit (-1 when
// main returned). It also sets the process's os.Args to the script's:
// compiled code reads the real variable, and in script mode nothing else
// needs the kernel's own arguments any more.
func (r *Rank) useScriptMain(a *compile.Artifact) error {
	x, err := r.loader.Open(a, r.shims) // already open: its symbols again
	if err != nil {
		return err
	}
	main, ok := compile.Main(a, x)
	if !ok {
		return errors.New("the script has no func main()")
	}
	run := func() (code int) {
		code = -1
		defer func() {
			if v := recover(); v != nil {
				t := reflect.TypeOf(v)
				if t.Name() != scriptExit || t.Kind() != reflect.Int {
					panic(v)
				}
				code = int(reflect.ValueOf(v).Int())
			}
		}()
		main()
		return code
	}
	os.Args = append([]string(nil), r.args...)
	if err := r.sess.Use(interp.Exports{"gompi/script/script": {"Main": reflect.ValueOf(run)}}); err != nil {
		return fmt.Errorf("script main: %w", err)
	}
	return nil
}
