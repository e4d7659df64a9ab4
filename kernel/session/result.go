package session

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/traefik/yaegi/interp"
)

// Result is the outcome of one cell on one rank. It travels between ranks as
// JSON, so it holds only JSON-friendly values.
type Result struct {
	// Data is the MIME bundle of the cell's final expression ("text/plain" at
	// least; binary formats base64-encoded as Jupyter expects), nil when the
	// cell has no final expression with a value.
	Data map[string]any `json:"data,omitempty"`
	// Err is nil on success.
	Err *Error `json:"error,omitempty"`
}

// Error describes a failed cell in Jupyter's terms (ename, evalue, traceback).
type Error struct {
	// Name is one of the Err* names.
	Name string `json:"ename"`
	// Value is the message, e.g. "3:5: undefined: x" or "exit status 3".
	Value string `json:"evalue"`
	// Traceback holds a few lines: interpreter frames, then "Name: Value".
	Traceback []string `json:"traceback"`
}

func (e *Error) Error() string { return e.Name + ": " + e.Value }

// Names of errors.
const (
	ErrCompile     = "CompileError"  // the cell does not parse or type-check
	ErrPanic       = "Panic"         // the cell panicked (runtime errors included)
	ErrExit        = "Exit"          // os.Exit or log.Fatal in the cell
	ErrInterrupted = "Interrupted"   // the context was cancelled
	ErrRuntime     = "RuntimeError"  // the interpreter failed to run compiled code
	ErrInternal    = "InternalError" // the interpreter itself panicked while compiling
)

// newError builds an Error whose traceback ends with "Name: Value".
func newError(name, value string, frames []string) *Error {
	tb := append(append([]string(nil), frames...), name+": "+value)
	return &Error{Name: name, Value: value, Traceback: tb}
}

// classify turns an error from executing a chunk into an Error. frames are
// the interpreter's panic trace lines collected for the chunk.
func classify(ctx context.Context, err error, frames []string) *Error {
	if ctx.Err() != nil {
		return newError(ErrInterrupted, "interrupted: "+context.Cause(ctx).Error(), nil)
	}
	var p interp.Panic
	if errors.As(err, &p) {
		if ex, ok := p.Value.(exitSignal); ok {
			return newError(ErrExit, ex.String(), nil)
		}
		return newError(ErrPanic, panicMessage(p.Value), frames)
	}
	return newError(ErrRuntime, err.Error(), frames)
}

// panicMessage renders a panic value the way the Go runtime does.
func panicMessage(v any) string {
	switch v := v.(type) {
	case error:
		return v.Error()
	case fmt.Stringer:
		return v.String()
	case string:
		return v
	}
	return fmt.Sprintf("%v", v)
}

// traceLines splits collected interpreter diagnostics into lines.
func traceLines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
