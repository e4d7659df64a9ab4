package modes

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/gompi-kernel/gompi-kernel/engine"
	"github.com/gompi-kernel/gompi-kernel/kernel"
)

// ScriptConfig is `gompi-kernel run`: a Go file run on rank 0 while the
// other ranks serve its Calls (pyMOR's `python -m pymor.tools.mpi script`),
// or with All on every rank (SPMD).
type ScriptConfig struct {
	Path   string
	Args   []string // the script's os.Args[1:]
	All    bool
	Log    *slog.Logger
	Stdout io.Writer
	Stderr io.Writer
}

// RunScript runs a script and returns the process exit status: the
// script's own (os.Exit), 1 if it failed on any rank, 0 otherwise.
func RunScript(ctx context.Context, cfg ScriptConfig) (int, error) {
	src, err := os.ReadFile(cfg.Path)
	if err != nil {
		return 2, fmt.Errorf("read script: %w", err)
	}
	code := 0
	err = engine.Run(ctx, cfg.Log, append([]string{cfg.Path}, cfg.Args...), func(c *engine.Coordinator) error {
		code = runScript(ctx, c, cfg, string(src))
		return nil
	})
	return code, err
}

// runScript is rank 0's part of RunScript.
func runScript(ctx context.Context, c *engine.Coordinator, cfg ScriptConfig, src string) int {
	out := newConsoleOutput(cfg.Stdout, cfg.Stderr)
	out.in = bufio.NewReader(os.Stdin)
	src, err := renameMain(src)
	if err != nil {
		fmt.Fprintf(cfg.Stderr, "%s: %v\n", cfg.Path, err)
		return 2
	}
	steps := []struct {
		code  string
		ranks []int
	}{
		// The script's declarations on every rank: the functions that
		// rank 0 Calls must exist on the ranks that serve them.
		{src, nil},
		{scriptMain + "()", nil},
	}
	if !cfg.All {
		steps[1].ranks = []int{0}
	}
	for _, s := range steps {
		// Frames in the script's functions name the file: "s.go, line 10".
		res := c.ExecuteOn(kernel.WithCellLabel(ctx, filepath.Base(cfg.Path)), s.code, s.ranks, out)
		out.flush()
		if res.Err != nil {
			return out.reportError(res.Err)
		}
	}
	return 0
}

// scriptMain is what a script's func main is renamed to.
const scriptMain = "__gompiScriptMain"

// renameMain renames the script's func main. Declared under its own name,
// yaegi would run it at once on every rank, while the declarations are
// being made; the kernel calls it itself, on rank 0 (or on every rank with
// --all), once every rank knows the script's functions.
func renameMain(src string) (string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), "script.go", src, parser.SkipObjectResolution)
	if err != nil {
		return "", err
	}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Recv != nil || fd.Name.Name != "main" {
			continue
		}
		off := int(fd.Name.Pos()) - int(f.FileStart)
		return src[:off] + scriptMain + src[off+len("main"):], nil
	}
	return "", errors.New("no func main() to run")
}
