package kernel

import (
	"context"

	"github.com/gompi-kernel/gompi-kernel/kernel/session"
)

// Interpreter is the narrow interface between the request handlers (Kernel)
// and whatever runs the code: the handlers deal in Jupyter messages, busy and
// idle, counts and history; the Interpreter deals in code, ranks and output.
// On rank 0 the Coordinator implements it over all MPI ranks.
type Interpreter interface {
	// Execute runs a cell. Output produced while it runs goes to out; the
	// returned Outcome holds the cell's value (rank 0's) or ONE error that
	// speaks for every rank that failed.
	Execute(ctx context.Context, code string, out Output) Outcome
	// Complete offers completions at cursor (in code points).
	Complete(code string, cursor int) session.Completion
	// Inspect describes the name at cursor (in code points).
	Inspect(code string, cursor, detail int) (map[string]any, bool)
	// IsComplete tells a console whether to run the code or ask for more.
	IsComplete(code string) (status, indent string)
	// Interrupt stops the running cell on every rank; no-op when idle.
	Interrupt()
	// Shutdown ends the workers' event loops.
	Shutdown(ctx context.Context) error
	// Banner is the line a console prints on connecting.
	Banner() string
}

// cellLabelKey carries a cell's label through Execute's context.
type cellLabelKey struct{}

// WithCellLabel returns ctx labelled with the name errors give the cell,
// e.g. "cell 6" for execution count 6 ("cell 6, line 2, in step").
func WithCellLabel(ctx context.Context, label string) context.Context {
	return context.WithValue(ctx, cellLabelKey{}, label)
}

// CellLabel is the label WithCellLabel gave ctx, "" if none.
func CellLabel(ctx context.Context) string {
	s, _ := ctx.Value(cellLabelKey{}).(string)
	return s
}

// Output is where a running cell's output goes: the kernel publishes it on
// iopub as the child of the execute_request.
type Output interface {
	Stream(name, text string, metadata map[string]any)
	Display(d Display)
	Clear(wait bool)
	// Input asks the user for a line (input_request), for a cell reading
	// standard input on rank 0.
	Input(prompt string, password bool) (string, error)
}

// Display is one piece of rich output: display_data, or with Update set
// update_display_data replacing what was shown under the same ID earlier.
type Display struct {
	Data     map[string]any `json:"data"`
	Metadata map[string]any `json:"metadata,omitempty"`
	ID       string         `json:"id,omitempty"`
	Update   bool           `json:"update,omitempty"`
}

// Outcome is how a cell ended, folded over all ranks.
type Outcome struct {
	Data    map[string]any // the value of the cell's last expression on rank 0; nil if none
	Err     *session.Error // nil when every rank succeeded
	Seconds []float64      // wall time of the cell on each rank; -1 where it did not run
}
