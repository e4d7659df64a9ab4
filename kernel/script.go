package kernel

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
	"strconv"
	"strings"
	"time"

	"github.com/gompi-kernel/gompi-kernel/kernel/session"
	"github.com/gompi-kernel/gompi-kernel/mpi"
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
	err = onRanks(ctx, cfg.Log, append([]string{cfg.Path}, cfg.Args...), func(c *Coordinator) error {
		code = runScript(ctx, c, cfg, string(src))
		return nil
	})
	return code, err
}

// runScript is rank 0's part of RunScript.
func runScript(ctx context.Context, c *Coordinator, cfg ScriptConfig, src string) int {
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
		res := c.ExecuteOn(ctx, s.code, s.ranks, out)
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

// RunREPL is `gompi-kernel repl`: a line REPL on rank 0 whose input runs on
// every rank, for when no Jupyter frontend is at hand.
func RunREPL(ctx context.Context, log *slog.Logger, in io.Reader, stdout, stderr io.Writer) error {
	return onRanks(ctx, log, nil, func(c *Coordinator) error {
		out := newConsoleOutput(stdout, stderr)
		fmt.Fprintln(stdout, c.Banner())
		fmt.Fprintln(stdout, "Enter Go; an unfinished line continues on the next. Ctrl-D ends.")
		lines := bufio.NewScanner(in)
		lines.Buffer(make([]byte, 64*1024), 16*1024*1024)
		var cell strings.Builder
		for {
			if cell.Len() == 0 {
				fmt.Fprint(stdout, "gompi> ")
			} else {
				fmt.Fprint(stdout, "...... ")
			}
			if !lines.Scan() {
				fmt.Fprintln(stdout)
				return lines.Err()
			}
			cell.WriteString(lines.Text())
			cell.WriteString("\n")
			code := cell.String()
			if strings.TrimSpace(code) == "" {
				cell.Reset()
				continue
			}
			if status, _ := c.IsComplete(code); status == "incomplete" {
				continue
			}
			cell.Reset()
			if isExitCommand(code) {
				return nil
			}
			res := c.Execute(ctx, code, out)
			out.flush()
			if res.Err != nil {
				out.reportError(res.Err)
			} else if text, ok := res.Data["text/plain"].(string); ok {
				fmt.Fprintln(stdout, text)
			}
			if ctx.Err() != nil {
				return nil
			}
		}
	})
}

// onRanks starts MPI and the fabric, runs drive on rank 0 and the worker
// event loop on the other ranks, and shuts the workers down when drive
// returns.
func onRanks(ctx context.Context, log *slog.Logger, args []string, drive func(*Coordinator) error) (err error) {
	start := time.Now()
	tuneForOversubscription(log)
	if err := mpi.Init(); err != nil {
		return fmt.Errorf("start MPI: %w", err)
	}
	defer func() {
		if ferr := mpi.Finalize(); ferr != nil {
			log.Error("finalize MPI", "err", ferr)
		}
	}()
	f, err := NewFabric()
	if err != nil {
		return err
	}
	defer f.Close()
	log = log.With("rank", f.Rank())
	log.Debug("MPI and fabric up", "after", time.Since(start))
	r, err := NewRank(f, args)
	if err != nil {
		return err
	}
	log.Debug("interpreter ready", "after", time.Since(start))
	if f.Rank() != 0 {
		err = NewWorker(f, r, log).Run(ctx)
	} else {
		c := NewCoordinator(f, r, log)
		err = drive(c)
		// Whatever happened, the workers must leave their loops, or mpirun
		// waits for them forever.
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if serr := c.Shutdown(sctx); serr != nil {
			log.Error("stopping workers", "err", serr)
			err = errors.Join(err, serr)
		}
	}
	if err != nil && f.Size() > 1 {
		// The other ranks may wait for this one forever; only an abort is
		// sure to end the whole job, and with it mpirun.
		log.Error("failed, aborting the MPI job", "err", err)
		mpi.Abort(1)
	}
	return err
}

// consoleOutput prints a cell's output to a terminal: streams as they come
// (labelled by rank when there are several, as in a notebook), rich output
// as its text/plain.
type consoleOutput struct {
	stdout, stderr io.Writer
	in             *bufio.Reader // a script's standard input; nil in the REPL, whose input is code
}

func newConsoleOutput(stdout, stderr io.Writer) *consoleOutput {
	return &consoleOutput{stdout: stdout, stderr: stderr}
}

func (o *consoleOutput) Stream(name, text string, _ map[string]any) {
	w := o.stdout
	if name == "stderr" {
		w = o.stderr
	}
	io.WriteString(w, text)
}

func (o *consoleOutput) Display(d Display) {
	if d.Update {
		return
	}
	if text, ok := d.Data["text/plain"].(string); ok {
		fmt.Fprintln(o.stdout, text)
		return
	}
	var kinds []string
	for k := range d.Data {
		kinds = append(kinds, k)
	}
	fmt.Fprintf(o.stdout, "<%s>\n", strings.Join(kinds, ", "))
}

func (o *consoleOutput) Clear(bool) {}

// Input reads a line from the console's input, if it has one.
func (o *consoleOutput) Input(prompt string, _ bool) (string, error) {
	if o.in == nil {
		return "", errors.New("no input")
	}
	io.WriteString(o.stdout, prompt)
	line, err := o.in.ReadString('\n')
	if err != nil && line == "" {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func (o *consoleOutput) flush() {
	if f, ok := o.stdout.(interface{ Sync() error }); ok {
		f.Sync()
	}
}

// reportError prints a cell's error and returns the exit status it means:
// the status given to os.Exit, else 1.
func (o *consoleOutput) reportError(e *session.Error) int {
	for _, line := range e.Traceback {
		fmt.Fprintln(o.stderr, line)
	}
	if len(e.Traceback) == 0 {
		fmt.Fprintf(o.stderr, "%s: %s\n", e.Name, e.Value)
	}
	if e.Name == session.ErrExit {
		if i := strings.LastIndex(e.Value, "exit status "); i >= 0 {
			if n, err := strconv.Atoi(strings.TrimSpace(e.Value[i+len("exit status "):])); err == nil {
				return n
			}
		}
	}
	return 1
}
