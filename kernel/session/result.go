package session

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
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

// Error describes a failed cell in Jupyter's terms (ename, evalue,
// traceback). It travels between ranks as JSON; Frames keep the positions
// apart from the text so that rank 0 can name the cell (Fold) when it
// builds the one error block a frontend shows.
type Error struct {
	// Name is one of the Err* names.
	Name string `json:"ename"`
	// Value is the message, once: "boom" for panic("boom"), the text of an
	// error for panic(err), "3:5: undefined: x" for a compile error
	// (line:column in the cell).
	Value string `json:"evalue"`
	// Traceback is what a frontend prints: a red name line (ANSI, as
	// IPython's), the frames, and "Name: Value" last.
	Traceback []string `json:"traceback"`
	// Frames are the interpreted calls a panic went through, innermost
	// first, in the cells' own line numbers.
	Frames []Frame `json:"frames,omitempty"`
}

func (e *Error) Error() string { return e.Name + ": " + e.Value }

// Frame is one interpreted call on a panic's way out.
type Frame struct {
	// Func is the function as declared ("h", "T.Method", "h.func" for a
	// function literal in h); "" is the top level of the cell.
	Func string `json:"func,omitempty"`
	// Line and Col are 1-based, in the cell that holds the code.
	Line int `json:"line"`
	Col  int `json:"col,omitempty"`
	// Cell names an earlier cell that declared Func ("cell 4", or "an
	// earlier cell" when the kernel gave no label); "" is the failing
	// cell itself.
	Cell string `json:"cell,omitempty"`
}

// Names of errors.
const (
	ErrCompile     = "CompileError"  // the cell does not parse or type-check
	ErrPanic       = "Panic"         // the cell panicked (runtime errors included)
	ErrExit        = "Exit"          // os.Exit or log.Fatal in the cell
	ErrInterrupted = "Interrupted"   // the context was cancelled
	ErrRuntime     = "RuntimeError"  // the interpreter failed to run compiled code
	ErrInternal    = "InternalError" // the interpreter itself panicked while compiling
)

// newError builds an Error and its one-rank traceback.
func newError(name, value string, frames []Frame) *Error {
	e := &Error{Name: name, Value: value, Frames: frames}
	e.Traceback = Fold("", []Group{{Err: e}}, nil).Traceback
	return e
}

// interrupted is the error of a cell stopped by its context. The cause is
// named only when it says more than that the cell was cancelled.
func interrupted(ctx context.Context) *Error {
	msg := "interrupted"
	if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
		msg = "interrupted: " + c.Error()
	}
	return newError(ErrInterrupted, msg, nil)
}

// classify turns an error from executing a chunk into an Error. trace is
// what the interpreter wrote about the panic's frames.
func (s *Session) classify(ctx context.Context, err error, trace string) *Error {
	if ctx.Err() != nil {
		return interrupted(ctx)
	}
	frames := s.frames(trace)
	var p interp.Panic
	if errors.As(err, &p) {
		if ex, ok := p.Value.(exitSignal); ok {
			return newError(ErrExit, ex.String(), nil)
		}
		// NameTypes: yaegi's own messages spell cell types by their
		// reflect form ("interface {} is struct { Xn int }, not string").
		return newError(ErrPanic, s.NameTypes(s.panicText(p.Value, true)), frames)
	}
	return newError(ErrRuntime, s.NameTypes(err.Error()), frames)
}

// traceLine is a line yaegi writes for each interpreted frame a panic
// leaves: "6:1: panic: main.h(...)".
var traceLine = regexp.MustCompile(`^(\d+):(\d+): panic: (.*)\(\.\.\.\)$`)

// frames parses the interpreter's trace into frames, dropping the kernel's
// hidden helpers (a statement moved into __gompiBlock3 is the cell's top
// level to the user).
func (s *Session) frames(trace string) []Frame {
	var out []Frame
	for _, l := range strings.Split(trace, "\n") {
		m := traceLine.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			continue
		}
		line, _ := strconv.Atoi(m[1])
		col, _ := strconv.Atoi(m[2])
		fn := strings.TrimPrefix(strings.TrimPrefix(m[3], "main"), ".")
		if strings.HasPrefix(fn, "__gompiBlock") {
			fn = strings.TrimPrefix(strings.TrimPrefix(fn, strings.SplitN(fn, ".", 2)[0]), ".")
		}
		declared := strings.SplitN(fn, ".", 2)[0]
		if declared == "__gompiScriptMain" {
			fn = "main" + strings.TrimPrefix(fn, declared) // a script's func main, renamed by modes/script.go
		}
		if strings.HasPrefix(fn, "__gompi") {
			continue // a hidden helper of the kernel's (method values, guards)
		}
		f := Frame{Func: fn, Line: line, Col: col}
		if fn != "" {
			f.Cell = s.declaredIn(declared)
		}
		out = append(out, f)
	}
	return out
}

// positionPrefix is a message's leading "line:col: ".
var positionPrefix = regexp.MustCompile(`^(\d+):(\d+): `)

// Group is a failure shared by some ranks, for Fold.
type Group struct {
	// Ranks names them ("rank 2", "ranks 0-3"); "" on a one-rank kernel.
	Ranks string
	Err   *Error
	// NameRanks names the ranks of every group that failed with this
	// error's name, for the heading: ranks 60-63 that panicked with four
	// different messages head the error once, "Panic on ranks 60-63",
	// above a block per message. "" means Ranks.
	NameRanks string
}

// Red is the ANSI colour IPython gives an error's name; Reset ends it.
const (
	Red   = "\x1b[0;31m"
	Reset = "\x1b[0m"
)

// Fold makes the ONE error a frontend shows for a cell from the failures
// of the ranks: a red name line naming the ranks, then per group the frames
// in the cell's line numbers and "Name: Value" once. cell labels the cell
// ("cell 6", from the execution count; "" says only "line 3"). notes are
// further lines, e.g. which ranks were stuck and interrupted; with no group
// the error is an Interrupted one. Frontends (and jupyter_kernel_test)
// expect exactly one error message, and a person needs to see at a glance
// which ranks failed and whether they failed alike.
func Fold(cell string, groups []Group, notes []string) *Error {
	out := &Error{Name: ErrInterrupted}
	var head, values []string
	headed := map[string]bool{}
	for i, g := range groups {
		if i == 0 {
			out.Name = g.Err.Name
			out.Frames = g.Err.Frames
		}
		h := Red + g.Err.Name + Reset
		v := g.Err.Value
		if g.Ranks != "" {
			v = g.Ranks + ": " + v
			if g.NameRanks != "" {
				h += " on " + g.NameRanks
			} else {
				h += " on " + g.Ranks
			}
		}
		if !headed[h] {
			headed[h] = true
			head = append(head, h)
		}
		values = append(values, v)
	}
	if len(groups) == 0 {
		head = append(head, Red+ErrInterrupted+Reset)
	}
	out.Traceback = append(out.Traceback, strings.Join(head, ", "))
	for _, g := range groups {
		lines := g.Err.lines(cell)
		if len(groups) > 1 {
			out.Traceback = append(out.Traceback, g.Ranks+":")
			for i := range lines {
				lines[i] = "    " + lines[i]
			}
		}
		out.Traceback = append(out.Traceback, lines...)
	}
	out.Traceback = append(out.Traceback, notes...)
	values = append(values, notes...)
	out.Value = strings.Join(values, "; ")
	if len(groups) == 1 && len(notes) == 0 && groups[0].Ranks == "" {
		out.Value = groups[0].Err.Value
	}
	return out
}

// lines are an error's traceback lines after the name line: the frames,
// innermost first as Go prints them, then "Name: Value". An interrupt is
// its name line alone: the name says it all.
func (e *Error) lines(cell string) []string {
	if e.Name == ErrInterrupted && (e.Value == "interrupted" || e.Value == "") {
		return nil
	}
	var out []string
	for _, f := range e.Frames {
		out = append(out, "    "+f.where(cell))
	}
	value := e.Value
	if e.Name == ErrCompile {
		// "3:5: undefined: x" -> "undefined: x" after a line naming the
		// place; several errors (one a line) each on a line of its own.
		msgs := strings.Split(value, "\n")
		if len(msgs) > 1 {
			for _, msg := range msgs {
				if m := positionPrefix.FindStringSubmatch(msg); m != nil {
					msg = place(cell, m[1], m[2]) + ": " + msg[len(m[0]):]
				}
				out = append(out, "    "+msg)
			}
			return append(out, fmt.Sprintf("%s: %d errors", e.Name, len(msgs)))
		}
		if m := positionPrefix.FindStringSubmatch(value); m != nil {
			out = append(out, "    "+place(cell, m[1], m[2]))
			value = value[len(m[0]):]
		}
	}
	return append(out, e.Name+": "+value)
}

// where is a frame as a person reads it: "cell 6, line 2, in h".
func (f Frame) where(cell string) string {
	if f.Cell != "" {
		cell = f.Cell
	}
	s := place(cell, strconv.Itoa(f.Line), strconv.Itoa(f.Col))
	if f.Func != "" {
		s += ", in " + f.Func
	}
	return s
}

// place is "cell 6, line 3, column 5" ("line 3, column 5" without a cell).
func place(cell, line, col string) string {
	s := "line " + line
	if col != "" && col != "0" {
		s += ", column " + col
	}
	if cell != "" {
		s = cell + ", " + s
	}
	return s
}

// Plain is the error as a terminal without colours shows it (a script's
// stderr): the traceback without ANSI escapes.
func (e *Error) Plain() []string {
	out := make([]string, len(e.Traceback))
	for i, l := range e.Traceback {
		out[i] = strings.NewReplacer(Red, "", Reset, "").Replace(l)
	}
	return out
}
