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
	"strings"

	"github.com/gompi-kernel/gompi-kernel/engine"
	"github.com/gompi-kernel/gompi-kernel/kernel"
)

// ScriptConfig is `gompi-kernel run`: a Go file run on rank 0 while the
// other ranks serve its Calls (pyMOR's `python -m pymor.tools.mpi script`),
// or with All on every rank (SPMD). The script is compiled (built once on
// rank 0, loaded on every rank: engine.Coordinator.LoadScript) unless
// Interpret is set or there is no usable go command.
type ScriptConfig struct {
	Path string
	Args []string // the script's os.Args[1:]
	All  bool
	// Interpret runs the script in the interpreter, as cells run, instead
	// of compiling it into a plugin first (which needs the go command).
	Interpret bool
	Log       *slog.Logger
	Stdout    io.Writer
	Stderr    io.Writer
}

// RunScript runs a script and returns the process exit status: the
// script's own (os.Exit), 1 if it failed on any rank, 0 otherwise.
//
// Only rank 0 reads the script (it sends the code to the others), and only
// once MPI is up: a script path that is not there then ends the job as any
// failed script does, the workers told to quit. Before, every rank read it
// before MPI started; a wrong path made every process fail at once, which
// hangs OpenMPI 4.1's mpirun from 32 processes on, and even rank 0 alone
// failing then left processes that mpirun started after it began aborting
// the job waiting in MPI_Init, and mpirun with them, forever
// (TestScriptNotThere).
func RunScript(ctx context.Context, cfg ScriptConfig) (int, error) {
	code := 0
	err := engine.Run(ctx, cfg.Log, append([]string{cfg.Path}, cfg.Args...), func(c *engine.Coordinator) error {
		src, err := os.ReadFile(cfg.Path)
		if err != nil {
			fmt.Fprintf(cfg.Stderr, "gompi-kernel run: read script: %v\n", err)
			code = 2
			return nil
		}
		code = runScript(ctx, c, cfg, string(src))
		return nil
	})
	return code, err
}

// runScript is rank 0's part of RunScript.
func runScript(ctx context.Context, c *engine.Coordinator, cfg ScriptConfig, src string) int {
	out := newConsoleOutput(cfg.Stdout, cfg.Stderr)
	out.in = bufio.NewReader(os.Stdin)
	var ranks []int // where main runs: rank 0, or every rank with --all
	if !cfg.All {
		ranks = []int{0}
	}
	if !cfg.Interpret {
		res := c.LoadScript(ctx, src, out)
		switch {
		case res.Err == nil:
			return runSteps(ctx, c, out, cfg.Path, []step{{engine.ScriptCall, ranks}})
		case res.Err.Name == "CompileError":
			// As go run shows them: path:line:col: message.
			for _, line := range strings.Split(res.Err.Value, "\n") {
				fmt.Fprintf(cfg.Stderr, "%s:%s\n", cfg.Path, line)
			}
			return 1
		case res.Err.Name != "ToolchainError":
			fmt.Fprintf(cfg.Stderr, "%s: ", cfg.Path)
			return out.reportError(res.Err)
		}
		// No usable go command: the script still runs, interpreted.
		fmt.Fprintf(cfg.Stderr, "%s: running interpreted (--interpret): %s\n", cfg.Path, res.Err.Value)
	}
	src, err := renameMain(src)
	if err != nil {
		fmt.Fprintf(cfg.Stderr, "%s: %v\n", cfg.Path, err)
		return 2
	}
	return runSteps(ctx, c, out, cfg.Path, []step{
		// The script's declarations on every rank: the functions that
		// rank 0 Calls must exist on the ranks that serve them.
		{src, nil},
		{scriptMain + "()", ranks},
	})
}

// step is a cell of a script run, and the ranks it runs on (nil: all).
type step struct {
	code  string
	ranks []int
}

// runSteps runs the steps in order and returns the exit status of the
// first that fails, 0 if none does.
func runSteps(ctx context.Context, c *engine.Coordinator, out *consoleOutput, path string, steps []step) int {
	for _, s := range steps {
		// Frames in the script's functions name the file: "s.go, line 10".
		res := c.ExecuteOn(kernel.WithCellLabel(ctx, filepath.Base(path)), s.code, s.ranks, out)
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
