package jupyter

import (
	"encoding/json"
	"fmt"
)

// Reply statuses. Frontends branch on these strings exactly.
const (
	StatusOK      = "ok"
	StatusError   = "error"
	StatusAborted = "aborted" // execute_reply only: skipped after an earlier error
)

// Kernel execution states for the status message; frontends show busy/idle and
// jupyter_client.wait_for_ready needs an idle after the kernel_info_reply.
const (
	StateStarting = "starting"
	StateBusy     = "busy"
	StateIdle     = "idle"
)

// is_complete_reply statuses, which decide whether a console sends the code or
// opens a continuation line.
const (
	IsCompleteComplete   = "complete"
	IsCompleteIncomplete = "incomplete"
	IsCompleteInvalid    = "invalid"
	IsCompleteUnknown    = "unknown"
)

// Stream names for the stream message.
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"
)

// MIMEBundle maps MIME types to representations ("text/plain" → string,
// "application/json" → any JSON, …), as carried by display_data,
// execute_result and inspect_reply.
type MIMEBundle = map[string]any

// ---- kernel_info ----

// KernelInfoRequest has no content; it exists so handlers can be written
// uniformly (unmarshal content, act).
type KernelInfoRequest struct{}

// KernelInfoReply tells the frontend what language this is and how to
// highlight it; frontends also use it as the "kernel is alive" handshake.
type KernelInfoReply struct {
	Status                string       `json:"status"`
	ProtocolVersion       string       `json:"protocol_version"`
	Implementation        string       `json:"implementation"`
	ImplementationVersion string       `json:"implementation_version"`
	LanguageInfo          LanguageInfo `json:"language_info"`
	Banner                string       `json:"banner"`
	HelpLinks             []HelpLink   `json:"help_links"`
	// Debugger announces support for debug_request (JupyterLab reads it).
	Debugger bool `json:"debugger"`
	// SupportedFeatures lists optional protocol features (5.4+), e.g. "debugger".
	SupportedFeatures []string `json:"supported_features,omitempty"`
}

// MarshalJSON writes help_links as [] rather than null, which some frontends
// iterate without checking.
func (r KernelInfoReply) MarshalJSON() ([]byte, error) {
	type plain KernelInfoReply
	p := plain(r)
	if p.HelpLinks == nil {
		p.HelpLinks = []HelpLink{}
	}
	if p.Status == "" {
		p.Status = StatusOK
	}
	if p.ProtocolVersion == "" {
		p.ProtocolVersion = ProtocolVersion
	}
	return json.Marshal(p)
}

// LanguageInfo describes the kernel's language for syntax highlighting and
// export (nbconvert uses file_extension and mimetype).
type LanguageInfo struct {
	Name              string `json:"name"`
	Version           string `json:"version"`
	MIMEType          string `json:"mimetype"`
	FileExtension     string `json:"file_extension"`
	PygmentsLexer     string `json:"pygments_lexer,omitempty"`
	CodemirrorMode    any    `json:"codemirror_mode,omitempty"` // string or object
	NbconvertExporter string `json:"nbconvert_exporter,omitempty"`
}

// HelpLink is an entry of the frontend's Help menu.
type HelpLink struct {
	Text string `json:"text"`
	URL  string `json:"url"`
}

// ---- execute ----

// ExecuteRequest asks the kernel to run a cell.
type ExecuteRequest struct {
	Code            string            `json:"code"`
	Silent          bool              `json:"silent"`
	StoreHistory    bool              `json:"store_history"`
	UserExpressions map[string]string `json:"user_expressions,omitempty"`
	AllowStdin      bool              `json:"allow_stdin"`
	StopOnError     bool              `json:"stop_on_error"`
}

// UnmarshalJSON applies the spec's defaults for fields a client leaves out
// (store_history, allow_stdin and stop_on_error default to true, silent to
// false).
func (r *ExecuteRequest) UnmarshalJSON(data []byte) error {
	type plain ExecuteRequest
	p := plain{StoreHistory: true, AllowStdin: true, StopOnError: true}
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	if p.Silent {
		// The spec: silent forces store_history false.
		p.StoreHistory = false
	}
	*r = ExecuteRequest(p)
	return nil
}

// ExecuteReply answers execute_request. For Status "error" the spec requires
// ename, evalue and traceback, and MarshalJSON always writes them then (and
// never otherwise); payload and user_expressions are always written, as
// ipykernel does.
type ExecuteReply struct {
	Status          string           `json:"status"`
	ExecutionCount  int              `json:"execution_count"`
	Payload         []map[string]any `json:"payload"`
	UserExpressions map[string]any   `json:"user_expressions"`
	EName           string           `json:"ename,omitempty"`
	EValue          string           `json:"evalue,omitempty"`
	Traceback       []string         `json:"traceback,omitempty"`
}

// MarshalJSON enforces the field rules described on ExecuteReply.
func (r ExecuteReply) MarshalJSON() ([]byte, error) {
	type plain ExecuteReply
	p := plain(r)
	if p.Payload == nil {
		p.Payload = []map[string]any{}
	}
	if p.UserExpressions == nil {
		p.UserExpressions = map[string]any{}
	}
	if p.Status != StatusError {
		p.EName, p.EValue, p.Traceback = "", "", nil
		return json.Marshal(p)
	}
	tb := p.Traceback
	if tb == nil {
		tb = []string{}
	}
	return json.Marshal(struct {
		plain
		EName     string   `json:"ename"`
		EValue    string   `json:"evalue"`
		Traceback []string `json:"traceback"`
	}{p, p.EName, p.EValue, tb})
}

// ErrorReply is the content of any *_reply that failed: status "error" plus
// the exception, all three fields required by the spec.
type ErrorReply struct {
	Status    string   `json:"status"`
	EName     string   `json:"ename"`
	EValue    string   `json:"evalue"`
	Traceback []string `json:"traceback"`
}

// MarshalJSON fixes status to "error" and writes traceback as [] when nil.
func (r ErrorReply) MarshalJSON() ([]byte, error) {
	type plain ErrorReply
	p := plain(r)
	p.Status = StatusError
	if p.Traceback == nil {
		p.Traceback = []string{}
	}
	return json.Marshal(p)
}

// ---- inspect ----

// InspectRequest asks for documentation of the object at the cursor
// (Shift-Tab). CursorPos counts Unicode code points, not bytes.
type InspectRequest struct {
	Code        string `json:"code"`
	CursorPos   int    `json:"cursor_pos"`
	DetailLevel int    `json:"detail_level"`
}

// InspectReply carries the documentation as a MIME bundle.
type InspectReply struct {
	Status   string         `json:"status"`
	Found    bool           `json:"found"`
	Data     MIMEBundle     `json:"data"`
	Metadata map[string]any `json:"metadata"`
}

// MarshalJSON writes data and metadata as {} when nil (both are required).
func (r InspectReply) MarshalJSON() ([]byte, error) {
	type plain InspectReply
	p := plain(r)
	if p.Status == "" {
		p.Status = StatusOK
	}
	if p.Data == nil {
		p.Data = MIMEBundle{}
	}
	if p.Metadata == nil {
		p.Metadata = map[string]any{}
	}
	return json.Marshal(p)
}

// ---- complete ----

// CompleteRequest asks for completions at CursorPos (Unicode code points).
type CompleteRequest struct {
	Code      string `json:"code"`
	CursorPos int    `json:"cursor_pos"`
}

// CompleteReply lists the completions replacing code[CursorStart:CursorEnd]
// (code points). matches and metadata are always written, as [] and {}.
type CompleteReply struct {
	Status      string         `json:"status"`
	Matches     []string       `json:"matches"`
	CursorStart int            `json:"cursor_start"`
	CursorEnd   int            `json:"cursor_end"`
	Metadata    map[string]any `json:"metadata"`
}

// MarshalJSON applies the always-present rules of CompleteReply.
func (r CompleteReply) MarshalJSON() ([]byte, error) {
	type plain CompleteReply
	p := plain(r)
	if p.Status == "" {
		p.Status = StatusOK
	}
	if p.Matches == nil {
		p.Matches = []string{}
	}
	if p.Metadata == nil {
		p.Metadata = map[string]any{}
	}
	return json.Marshal(p)
}

// ---- is_complete ----

// IsCompleteRequest asks whether a console should run code or continue it.
type IsCompleteRequest struct {
	Code string `json:"code"`
}

// IsCompleteReply: Indent is only meaningful (and only sent) when Status is
// "incomplete".
type IsCompleteReply struct {
	Status string `json:"status"`
	Indent string `json:"indent,omitempty"`
}

// MarshalJSON writes indent exactly when the status is incomplete (then even
// if empty, since the spec makes it required there).
func (r IsCompleteReply) MarshalJSON() ([]byte, error) {
	if r.Status == IsCompleteIncomplete {
		return json.Marshal(struct {
			Status string `json:"status"`
			Indent string `json:"indent"`
		}{r.Status, r.Indent})
	}
	return json.Marshal(struct {
		Status string `json:"status"`
	}{r.Status})
}

// ---- history ----

// HistoryRequest asks for past inputs (console up-arrow, %history).
type HistoryRequest struct {
	Output         bool   `json:"output"`
	Raw            bool   `json:"raw"`
	HistAccessType string `json:"hist_access_type"` // "range", "tail" or "search"
	Session        int    `json:"session,omitempty"`
	Start          int    `json:"start,omitempty"`
	Stop           int    `json:"stop,omitempty"`
	N              int    `json:"n,omitempty"`
	Pattern        string `json:"pattern,omitempty"`
	Unique         bool   `json:"unique,omitempty"`
}

// HistoryEntry is one history line. On the wire it is a triple
// [session, line_number, input], or [session, line_number, [input, output]]
// when output was requested (Output non-nil).
type HistoryEntry struct {
	Session int
	Line    int
	Input   string
	Output  *string
}

// MarshalJSON writes the triple form.
func (e HistoryEntry) MarshalJSON() ([]byte, error) {
	if e.Output != nil {
		return json.Marshal([]any{e.Session, e.Line, []string{e.Input, *e.Output}})
	}
	return json.Marshal([]any{e.Session, e.Line, e.Input})
}

// UnmarshalJSON reads either triple form.
func (e *HistoryEntry) UnmarshalJSON(data []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if len(raw) != 3 {
		return fmt.Errorf("jupyter: history entry has %d elements, want 3", len(raw))
	}
	var out HistoryEntry
	if err := json.Unmarshal(raw[0], &out.Session); err != nil {
		return fmt.Errorf("jupyter: history entry session: %w", err)
	}
	if err := json.Unmarshal(raw[1], &out.Line); err != nil {
		return fmt.Errorf("jupyter: history entry line: %w", err)
	}
	if err := json.Unmarshal(raw[2], &out.Input); err != nil {
		var pair []string
		if err2 := json.Unmarshal(raw[2], &pair); err2 != nil || len(pair) != 2 {
			return fmt.Errorf("jupyter: history entry input: %w", err)
		}
		out.Input, out.Output = pair[0], &pair[1]
	}
	*e = out
	return nil
}

// HistoryReply returns the entries; history is always a list.
type HistoryReply struct {
	Status  string         `json:"status"`
	History []HistoryEntry `json:"history"`
}

// MarshalJSON writes history as [] when nil.
func (r HistoryReply) MarshalJSON() ([]byte, error) {
	type plain HistoryReply
	p := plain(r)
	if p.Status == "" {
		p.Status = StatusOK
	}
	if p.History == nil {
		p.History = []HistoryEntry{}
	}
	return json.Marshal(p)
}

// ---- comm_info ----

// CommInfoRequest asks which comms are open, optionally for one target.
type CommInfoRequest struct {
	TargetName string `json:"target_name,omitempty"`
}

// CommInfo describes one open comm.
type CommInfo struct {
	TargetName string `json:"target_name"`
}

// CommInfoReply maps comm ids to their targets; comms is always an object.
type CommInfoReply struct {
	Status string              `json:"status"`
	Comms  map[string]CommInfo `json:"comms"`
}

// MarshalJSON writes comms as {} when nil.
func (r CommInfoReply) MarshalJSON() ([]byte, error) {
	type plain CommInfoReply
	p := plain(r)
	if p.Status == "" {
		p.Status = StatusOK
	}
	if p.Comms == nil {
		p.Comms = map[string]CommInfo{}
	}
	return json.Marshal(p)
}

// ---- comms ----

// CommOpen opens a custom channel between frontend and kernel (widgets).
type CommOpen struct {
	CommID     string         `json:"comm_id"`
	TargetName string         `json:"target_name"`
	Data       map[string]any `json:"data"`
}

// CommMsg carries data on an open comm.
type CommMsg struct {
	CommID string         `json:"comm_id"`
	Data   map[string]any `json:"data"`
}

// CommClose closes a comm.
type CommClose struct {
	CommID string         `json:"comm_id"`
	Data   map[string]any `json:"data"`
}

// ---- shutdown / interrupt ----

// ShutdownRequest asks the kernel to exit (Restart: the manager will start a
// new one, so the kernel may keep shared resources).
type ShutdownRequest struct {
	Restart bool `json:"restart"`
}

// ShutdownReply is sent (on control) before the kernel exits.
type ShutdownReply struct {
	Status  string `json:"status"`
	Restart bool   `json:"restart"`
}

// InterruptReply answers interrupt_request, used when the kernelspec says
// interrupt_mode "message" (no SIGINT, e.g. across MPI ranks).
type InterruptReply struct {
	Status string `json:"status"`
}

// ---- iopub ----

// Status is the busy/idle/starting broadcast.
type Status struct {
	ExecutionState string `json:"execution_state"`
}

// Stream is a chunk of stdout/stderr text.
type Stream struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

// Transient holds per-message data that is not stored in the notebook.
type Transient struct {
	DisplayID string `json:"display_id,omitempty"`
}

// DisplayData shows a rich value; with Transient.DisplayID it can later be
// replaced by update_display_data.
type DisplayData struct {
	Data      MIMEBundle     `json:"data"`
	Metadata  map[string]any `json:"metadata"`
	Transient *Transient     `json:"transient,omitempty"`
}

// MarshalJSON writes data and metadata as {} when nil (both are required).
func (d DisplayData) MarshalJSON() ([]byte, error) {
	type plain DisplayData
	p := plain(d)
	if p.Data == nil {
		p.Data = MIMEBundle{}
	}
	if p.Metadata == nil {
		p.Metadata = map[string]any{}
	}
	return json.Marshal(p)
}

// UpdateDisplayData replaces an earlier display with the same display id;
// the id is required here, hence a value rather than a pointer.
type UpdateDisplayData struct {
	Data      MIMEBundle     `json:"data"`
	Metadata  map[string]any `json:"metadata"`
	Transient Transient      `json:"transient"`
}

// MarshalJSON writes data and metadata as {} when nil.
func (d UpdateDisplayData) MarshalJSON() ([]byte, error) {
	type plain UpdateDisplayData
	p := plain(d)
	if p.Data == nil {
		p.Data = MIMEBundle{}
	}
	if p.Metadata == nil {
		p.Metadata = map[string]any{}
	}
	return json.Marshal(p)
}

// ExecuteInput rebroadcasts the code being run, so other frontends can show it.
type ExecuteInput struct {
	Code           string `json:"code"`
	ExecutionCount int    `json:"execution_count"`
}

// ExecuteResult is the value of a cell's last expression (Out[n]).
type ExecuteResult struct {
	ExecutionCount int            `json:"execution_count"`
	Data           MIMEBundle     `json:"data"`
	Metadata       map[string]any `json:"metadata"`
}

// MarshalJSON writes data and metadata as {} when nil.
func (r ExecuteResult) MarshalJSON() ([]byte, error) {
	type plain ExecuteResult
	p := plain(r)
	if p.Data == nil {
		p.Data = MIMEBundle{}
	}
	if p.Metadata == nil {
		p.Metadata = map[string]any{}
	}
	return json.Marshal(p)
}

// Error is the iopub broadcast of a failed cell; frontends render traceback
// (which may contain ANSI colour codes) verbatim.
type Error struct {
	EName     string   `json:"ename"`
	EValue    string   `json:"evalue"`
	Traceback []string `json:"traceback"`
}

// MarshalJSON writes traceback as [] when nil.
func (e Error) MarshalJSON() ([]byte, error) {
	type plain Error
	p := plain(e)
	if p.Traceback == nil {
		p.Traceback = []string{}
	}
	return json.Marshal(p)
}

// ClearOutput clears the cell's output; Wait defers it until new output comes,
// which avoids flicker in animations.
type ClearOutput struct {
	Wait bool `json:"wait"`
}

// ---- stdin ----

// InputRequest asks the frontend for a line (Password: do not echo).
type InputRequest struct {
	Prompt   string `json:"prompt"`
	Password bool   `json:"password"`
}

// InputReply carries the line the user typed, without the newline.
type InputReply struct {
	Value string `json:"value"`
}
