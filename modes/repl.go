package modes

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/gompi-kernel/gompi-kernel/engine"
	"github.com/gompi-kernel/gompi-kernel/kernel"
)

// RunREPL is `gompi-kernel repl`: a line REPL on rank 0 whose input runs on
// every rank, for when no Jupyter frontend is at hand.
func RunREPL(ctx context.Context, log *slog.Logger, in io.Reader, stdout, stderr io.Writer) error {
	return engine.Run(ctx, log, nil, func(c *engine.Coordinator) error {
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
			// A cell magic (%%compile, %%rank0, …) takes the lines up to an
			// empty one, as in IPython's terminal.
			if strings.HasPrefix(strings.TrimSpace(code), "%%") && lines.Text() != "" {
				continue
			}
			cell.Reset()
			if kernel.IsExitCommand(code) {
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
