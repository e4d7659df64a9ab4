package modes

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/gompi-kernel/gompi-kernel/kernel"
	"github.com/gompi-kernel/gompi-kernel/kernel/session"
	"golang.org/x/term"
)

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

func (o *consoleOutput) Display(d kernel.Display) {
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
	lines := e.Traceback
	if !isTerminal(o.stderr) {
		lines = e.Plain() // no colour codes in pipes and files
	}
	for _, line := range lines {
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

// isTerminal reports whether w is a terminal, which shows colours.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
