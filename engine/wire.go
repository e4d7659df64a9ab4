package engine

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"

	"github.com/gompi-kernel/gompi-kernel/kernel"
	"github.com/gompi-kernel/gompi-kernel/kernel/session"
)

// commandKind says what rank 0 asks of the workers. It is an int, not a
// string, so that a typo is a compile error rather than a silently ignored
// command.
type commandKind int

const (
	cmdExecute  commandKind = iota + 1 // run a cell on the ranks named in Ranks (all when empty)
	cmdRenew                           // replace the cells' communicator (after an interrupt)
	cmdReset                           // fresh interpreter on every rank
	cmdQuit                            // leave the event loop, finalize MPI
	cmdCall                            // run a function for rank 0's Call (while serving)
	cmdQuitLoop                        // release the ranks waiting in EventLoop
	cmdEndCell                         // the cell ended; ranks that only served it report done
	cmdLoad                            // load a plugin (Blob: compile.Artifact) and bind it into the session
)

func (k commandKind) String() string {
	switch k {
	case cmdExecute:
		return "execute"
	case cmdRenew:
		return "renew"
	case cmdReset:
		return "reset"
	case cmdQuit:
		return "quit"
	case cmdCall:
		return "call"
	case cmdQuitLoop:
		return "quit-loop"
	case cmdEndCell:
		return "end-cell"
	case cmdLoad:
		return "load"
	}
	return fmt.Sprintf("command(%d)", int(k))
}

// command travels from rank 0 to every worker over the command communicator.
type command struct {
	Kind commandKind `json:"kind"`
	Seq  uint64      `json:"seq"`            // identifies the cell, so late events and interrupts can be told apart
	Code string      `json:"code,omitempty"` // the cell, for cmdExecute
	// Label names the cell in errors ("cell 6"), for cmdExecute.
	Label string `json:"label,omitempty"`
	// Ranks run the cell (cmdExecute); empty means all. The others serve
	// rank 0's Calls until cmdEndCell: pyMOR's driver style.
	Ranks []int  `json:"ranks,omitempty"`
	Fan   int    `json:"fan,omitempty"`  // > 0: came through the fan-out tree of this arity; forward it
	Call  uint64 `json:"call,omitempty"` // numbers the Call within the cell
	Fn    string `json:"fn,omitempty"`   // cmdCall: the function's name
	Args  []byte `json:"args,omitempty"` // cmdCall: registry.EncodeArgs
	Blob  []byte `json:"blob,omitempty"` // cmdLoad: compile.Artifact.MarshalBinary, without the plugin
	// More: raw bytes follow (tagBlob): cmdLoad's plugin.
	More bool `json:"more,omitempty"`
}

// runs reports whether rank runs the cell of c.
func (c command) runs(rank int) bool {
	if len(c.Ranks) == 0 {
		return true
	}
	for _, r := range c.Ranks {
		if r == rank {
			return true
		}
	}
	return false
}

// eventKind says what a worker reports to rank 0.
type eventKind int

const (
	evStream   eventKind = iota + 1 // a chunk of stdout or stderr
	evDisplay                       // rich output (display_data / update_display_data)
	evClear                         // clear_output
	evDone                          // the cell ended on this rank
	evServing                       // the rank entered EventLoop: it serves Calls
	evCallDone                      // the rank finished a Call
	evGathered                      // done reports of a subtree of the fan-out tree (gather.go)
)

// event travels from a worker to rank 0 over the upward communicator. MPI
// keeps messages between one pair of ranks in order, so a rank's evDone
// always arrives after all of its output for the same cell.
type event struct {
	Kind    eventKind       `json:"kind"`
	Seq     uint64          `json:"seq"`
	Rank    int             `json:"rank"`
	Name    string          `json:"name,omitempty"` // "stdout" or "stderr" for evStream
	Text    string          `json:"text,omitempty"`
	Display *kernel.Display `json:"display,omitempty"` // evDisplay
	Wait    bool            `json:"wait,omitempty"`    // evClear
	Result  *doneReport     `json:"result,omitempty"`  // evDone
	Call    uint64          `json:"call,omitempty"`    // evCallDone
	Err     *session.Error  `json:"err,omitempty"`     // evCallDone: nil on success
	// Gathered are the done reports an inner rank of the tree passes up
	// (evGathered).
	Gathered []rankReport `json:"gathered,omitempty"`
}

// doneReport is one rank's account of a finished cell.
type doneReport struct {
	Data    map[string]any `json:"data,omitempty"`
	Err     *session.Error `json:"err,omitempty"`
	Dirty   bool           `json:"dirty,omitempty"`   // the rank abandoned an MPI operation: the cells' communicator must be renewed
	Where   string         `json:"where,omitempty"`   // the MPI operation it abandoned, e.g. "Barrier"
	Seconds float64        `json:"seconds,omitempty"` // wall time of the cell on this rank
	// Events is how many events (output, serving, Call done) the rank
	// sent rank 0 for the cell before this report, for a report that
	// travels up the tree apart from them (gather.go).
	Events int `json:"events,omitempty"`
}

// interrupt travels from rank 0 to a worker over the interrupt communicator.
type interrupt struct {
	Seq uint64 `json:"seq"`
	// Flush only asks the rank to pass up the done reports it holds
	// (gather.go); the cell goes on.
	Flush bool `json:"flush,omitempty"`
}

func encode(v any) ([]byte, error) {
	if e, ok := v.(event); ok && plainDone(e) {
		return encodePlainDone(e), nil
	}
	if c, ok := v.(command); ok && plainExecute(c) {
		return encodePlainExecute(c), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return b, nil
}

func decode[T any](b []byte) (T, error) {
	var v T
	if len(b) > 0 && b[0] == plainDoneMark {
		e, ok := any(&v).(*event)
		if !ok {
			return v, fmt.Errorf("decode %T: a plain done report", v)
		}
		return v, decodePlainDone(b, e)
	}
	if len(b) > 0 && b[0] == plainExecuteMark {
		c, ok := any(&v).(*command)
		if !ok {
			return v, fmt.Errorf("decode %T: a plain execute command", v)
		}
		return v, decodePlainExecute(b, c)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("decode %T: %w", v, err)
	}
	return v, nil
}

// A plain done report (no data, no error: what every rank sends for
// almost every cell) travels as plainDoneLen bytes, not JSON: rank 0
// decodes one per worker per cell, and JSON decoding was 8 % of its CPU
// per trivial cell at 16 ranks. The first byte tells it from JSON, which
// starts with '{'.
const (
	plainDoneMark = 0x01
	plainDoneLen  = 1 + 8 + 4 + 8 + 4 // mark, seq, rank, seconds, events
)

// plainDone reports whether e is a done report that fits the plain form.
func plainDone(e event) bool {
	r := e.Result
	return e.Kind == evDone && r != nil && r.Data == nil && r.Err == nil && !r.Dirty && r.Where == "" &&
		e.Name == "" && e.Text == "" && e.Display == nil && !e.Wait && e.Call == 0 && e.Err == nil &&
		e.Gathered == nil && e.Rank >= 0 && e.Rank <= math.MaxInt32 && r.Events >= 0 && r.Events <= math.MaxInt32
}

func encodePlainDone(e event) []byte {
	b := make([]byte, plainDoneLen)
	b[0] = plainDoneMark
	binary.LittleEndian.PutUint64(b[1:], e.Seq)
	binary.LittleEndian.PutUint32(b[9:], uint32(e.Rank))
	binary.LittleEndian.PutUint64(b[13:], math.Float64bits(e.Result.Seconds))
	binary.LittleEndian.PutUint32(b[21:], uint32(e.Result.Events))
	return b
}

func decodePlainDone(b []byte, e *event) error {
	if len(b) != plainDoneLen {
		return fmt.Errorf("decode a plain done report: %d bytes, want %d", len(b), plainDoneLen)
	}
	*e = event{Kind: evDone, Seq: binary.LittleEndian.Uint64(b[1:]), Rank: int(binary.LittleEndian.Uint32(b[9:])),
		Result: &doneReport{Seconds: math.Float64frombits(binary.LittleEndian.Uint64(b[13:])),
			Events: int(binary.LittleEndian.Uint32(b[21:]))}}
	return nil
}

// A plain execute command (a cell for every rank, nothing else: almost
// every command) travels as its fields in a row, not JSON: each worker
// decodes one per cell, and JSON decoding was 5 % of a worker's CPU per
// trivial cell at 4 ranks.
const (
	plainExecuteMark = 0x02
	plainExecuteHead = 1 + 8 + 4 + 4 // mark, seq, fan, label length; then label and code
)

// plainExecute reports whether c fits the plain form.
func plainExecute(c command) bool {
	return c.Kind == cmdExecute && len(c.Ranks) == 0 && c.Call == 0 && c.Fn == "" && c.Args == nil &&
		c.Blob == nil && !c.More && c.Fan >= 0 && c.Fan <= math.MaxInt32 && len(c.Label) <= math.MaxInt32
}

func encodePlainExecute(c command) []byte {
	b := make([]byte, plainExecuteHead, plainExecuteHead+len(c.Label)+len(c.Code))
	b[0] = plainExecuteMark
	binary.LittleEndian.PutUint64(b[1:], c.Seq)
	binary.LittleEndian.PutUint32(b[9:], uint32(c.Fan))
	binary.LittleEndian.PutUint32(b[13:], uint32(len(c.Label)))
	b = append(b, c.Label...)
	return append(b, c.Code...)
}

func decodePlainExecute(b []byte, c *command) error {
	if len(b) < plainExecuteHead {
		return fmt.Errorf("decode a plain execute command: %d bytes", len(b))
	}
	n := int(binary.LittleEndian.Uint32(b[13:]))
	if n > len(b)-plainExecuteHead {
		return fmt.Errorf("decode a plain execute command: label of %d bytes in %d", n, len(b))
	}
	rest := b[plainExecuteHead:]
	*c = command{Kind: cmdExecute, Seq: binary.LittleEndian.Uint64(b[1:]), Fan: int(binary.LittleEndian.Uint32(b[9:])),
		Label: string(rest[:n]), Code: string(rest[n:])}
	return nil
}
