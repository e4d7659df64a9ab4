package kernel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/gompi-kernel/gompi-kernel/jupyter"
)

// protocolVersion is the Jupyter messaging protocol version spoken here.
const protocolVersion = "5.3"

// Kernel is the kernel core: it routes Jupyter requests to the Interpreter,
// says busy and idle around every one of them, counts executions and keeps
// history. It knows nothing of MPI; that lives behind Interpreter.
type Kernel struct {
	interp Interpreter
	log    *slog.Logger
	ctx    context.Context

	// onShutdown is called after the shutdown_reply has been sent.
	onShutdown func(restart bool)

	mu      sync.Mutex
	count   int // execution_count of the latest stored execution
	history History
	// abortBefore: after a cell failed with stop_on_error, execute requests
	// sent before that moment (a notebook's "Run All" queues them all at
	// once) are answered "aborted" instead of run, as ipykernel does.
	abortBefore time.Time
}

// NewKernel routes requests to interp. ctx bounds every cell; onShutdown is
// called once a shutdown_request has been answered.
func NewKernel(ctx context.Context, interp Interpreter, log *slog.Logger, onShutdown func(restart bool)) *Kernel {
	return &Kernel{interp: interp, log: log, ctx: ctx, onShutdown: onShutdown}
}

// Handle serves one request. It implements jupyter.Handler: shell requests
// come one at a time, control requests on their own goroutine, so an
// interrupt or shutdown is served while a cell runs.
func (k *Kernel) Handle(req *jupyter.Request) {
	msg := req.Msg()
	k.status(req, "busy")

	var err error
	var after func() // runs once idle has been published
	switch t := msg.Header.MsgType; t {
	case jupyter.MsgKernelInfoRequest:
		err = k.kernelInfo(req)
	case jupyter.MsgExecuteRequest:
		err = k.execute(req)
	case jupyter.MsgCompleteRequest:
		err = k.complete(req)
	case jupyter.MsgInspectRequest:
		err = k.inspect(req)
	case jupyter.MsgIsCompleteRequest:
		err = k.isComplete(req)
	case jupyter.MsgHistoryRequest:
		err = k.historyReply(req)
	case jupyter.MsgCommInfoRequest:
		err = req.Reply(jupyter.MsgCommInfoReply, jupyter.CommInfoReply{Status: "ok"}, nil)
	case jupyter.MsgInterruptRequest:
		k.interp.Interrupt()
		err = req.Reply(jupyter.MsgInterruptReply, jupyter.InterruptReply{Status: "ok"}, nil)
	case jupyter.MsgShutdownRequest:
		after, err = k.shutdown(req)
	default:
		err = k.unsupported(req)
	}
	if err != nil {
		k.log.Error("answering request", "type", msg.Header.MsgType, "channel", req.Channel(), "err", err)
	}
	k.status(req, "idle")
	if after != nil {
		after()
	}
}

func (k *Kernel) status(req *jupyter.Request, state string) {
	if err := req.Publish(jupyter.MsgStatus, jupyter.Status{ExecutionState: state}, nil); err != nil {
		k.log.Error("publishing status", "state", state, "err", err)
	}
}

// unsupported answers a request this kernel does not implement with an
// error reply of the matching type, so that no client waits forever.
func (k *Kernel) unsupported(req *jupyter.Request) error {
	t := string(req.Msg().Header.MsgType)
	k.log.Warn("unsupported request", "type", t)
	if !strings.HasSuffix(t, "_request") {
		return nil
	}
	reply := jupyter.MsgType(strings.TrimSuffix(t, "_request") + "_reply")
	return req.Reply(reply, jupyter.ErrorReply{
		EName: "NotImplemented", EValue: fmt.Sprintf("gompi-kernel does not implement %s", t),
	}, nil)
}

func (k *Kernel) kernelInfo(req *jupyter.Request) error {
	return req.Reply(jupyter.MsgKernelInfoReply, jupyter.KernelInfoReply{
		Status:                "ok",
		ProtocolVersion:       protocolVersion,
		Implementation:        "gompi-kernel",
		ImplementationVersion: Version(),
		LanguageInfo: jupyter.LanguageInfo{
			Name:              "go",
			Version:           strings.TrimPrefix(runtime.Version(), "go"),
			MIMEType:          "text/x-go",
			FileExtension:     ".go",
			PygmentsLexer:     "go",
			CodemirrorMode:    "go",
			NbconvertExporter: "script",
		},
		Banner: k.interp.Banner(),
		HelpLinks: []jupyter.HelpLink{
			{Text: "Go standard library", URL: "https://pkg.go.dev/std"},
			{Text: "Open MPI", URL: "https://www.open-mpi.org/doc/"},
		},
	}, nil)
}

func (k *Kernel) execute(req *jupyter.Request) error {
	var r jupyter.ExecuteRequest
	if err := json.Unmarshal(req.Msg().Content, &r); err != nil {
		return k.badRequest(req, jupyter.MsgExecuteReply, err)
	}
	if k.queuedBeforeFailure(req.Msg().Header.Date) {
		return req.Reply(jupyter.MsgExecuteReply, map[string]any{"status": "aborted", "execution_count": nil}, map[string]any{"status": "aborted"})
	}
	if name, ok := helpRequest(r.Code); ok {
		// As IPython: "name?" shows what inspect would, in the pager.
		data, found := k.interp.Inspect(name, len([]rune(name)), 1)
		if !found {
			data = map[string]any{"text/plain": fmt.Sprintf("no information about %s", name)}
		}
		return req.Reply(jupyter.MsgExecuteReply, jupyter.ExecuteReply{
			Status: "ok", ExecutionCount: k.currentCount(),
			Payload: []map[string]any{{"source": "page", "data": data, "start": 0}},
		}, map[string]any{"status": "ok"})
	}
	if isExitCommand(r.Code) {
		// As IPython: a console asked to exit gets an ask_exit payload and
		// leaves (shutting down a kernel it started).
		return req.Reply(jupyter.MsgExecuteReply, jupyter.ExecuteReply{
			Status: "ok", ExecutionCount: k.currentCount(),
			Payload: []map[string]any{{"source": "ask_exit", "keepkernel": false}},
		}, map[string]any{"status": "ok"})
	}
	store := r.StoreHistory && !r.Silent
	k.mu.Lock()
	if store {
		k.count++
	}
	count := k.count
	k.mu.Unlock()
	if !r.Silent {
		if err := req.Publish(jupyter.MsgExecuteInput, jupyter.ExecuteInput{Code: r.Code, ExecutionCount: count}, nil); err != nil {
			return err
		}
	}

	out := &publisher{req: req, log: k.log, silent: r.Silent, allowStdin: r.AllowStdin, ctx: k.ctx}
	res := k.interp.Execute(k.ctx, r.Code, out)

	var shown string
	if res.Data != nil && !r.Silent {
		shown, _ = res.Data["text/plain"].(string)
		if err := req.Publish(jupyter.MsgExecuteResult, jupyter.ExecuteResult{
			ExecutionCount: count, Data: res.Data, Metadata: map[string]any{},
		}, nil); err != nil {
			return err
		}
	}
	if store {
		k.history.Add(count, r.Code, shown)
	}
	if res.Err != nil {
		tb := res.Err.Traceback
		if tb == nil {
			tb = []string{}
		}
		if r.StopOnError {
			k.mu.Lock()
			k.abortBefore = time.Now()
			k.mu.Unlock()
		}
		if !r.Silent {
			if err := req.Publish(jupyter.MsgError, jupyter.Error{
				EName: res.Err.Name, EValue: res.Err.Value, Traceback: tb,
			}, nil); err != nil {
				return err
			}
		}
		return req.Reply(jupyter.MsgExecuteReply, jupyter.ExecuteReply{
			Status: "error", ExecutionCount: count,
			EName: res.Err.Name, EValue: res.Err.Value, Traceback: tb,
		}, map[string]any{"status": "error"})
	}
	return req.Reply(jupyter.MsgExecuteReply, jupyter.ExecuteReply{
		Status: "ok", ExecutionCount: count, Payload: []map[string]any{}, UserExpressions: map[string]any{},
	}, map[string]any{"status": "ok"})
}

// helpRequest recognises "name?" and "pkg.Name?", IPython's way of asking
// for help, and returns the name.
func helpRequest(code string) (string, bool) {
	code = strings.TrimSpace(code)
	name, ok := strings.CutSuffix(code, "?")
	if !ok || name == "" {
		return "", false
	}
	for _, part := range strings.Split(name, ".") {
		if part == "" {
			return "", false
		}
		for i, r := range part {
			if !(r == '_' || unicode.IsLetter(r) || (i > 0 && unicode.IsDigit(r))) {
				return "", false
			}
		}
	}
	return name, true
}

// isExitCommand reports whether code is a request to leave the console.
func isExitCommand(code string) bool {
	switch strings.TrimSpace(code) {
	case "exit", "quit", "exit()", "quit()":
		return true
	}
	return false
}

func (k *Kernel) currentCount() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.count
}

// queuedBeforeFailure reports whether a request dated date was sent before
// the last stop_on_error failure. An unreadable date is never aborted.
func (k *Kernel) queuedBeforeFailure(date string) bool {
	k.mu.Lock()
	before := k.abortBefore
	k.mu.Unlock()
	if before.IsZero() {
		return false
	}
	t, err := time.Parse(time.RFC3339Nano, date)
	return err == nil && t.Before(before)
}

// badRequest answers a request whose content could not be read.
func (k *Kernel) badRequest(req *jupyter.Request, reply jupyter.MsgType, err error) error {
	k.log.Warn("malformed request content", "type", req.Msg().Header.MsgType, "err", err)
	return req.Reply(reply, jupyter.ErrorReply{EName: "BadRequest", EValue: err.Error()}, nil)
}

func (k *Kernel) complete(req *jupyter.Request) error {
	var r jupyter.CompleteRequest
	if err := json.Unmarshal(req.Msg().Content, &r); err != nil {
		return k.badRequest(req, jupyter.MsgCompleteReply, err)
	}
	c := k.interp.Complete(r.Code, r.CursorPos)
	matches := c.Matches
	if matches == nil {
		matches = []string{}
	}
	return req.Reply(jupyter.MsgCompleteReply, jupyter.CompleteReply{
		Status: "ok", Matches: matches, CursorStart: c.Start, CursorEnd: c.End, Metadata: map[string]any{},
	}, nil)
}

func (k *Kernel) inspect(req *jupyter.Request) error {
	var r jupyter.InspectRequest
	if err := json.Unmarshal(req.Msg().Content, &r); err != nil {
		return k.badRequest(req, jupyter.MsgInspectReply, err)
	}
	data, found := k.interp.Inspect(r.Code, r.CursorPos, r.DetailLevel)
	if data == nil {
		data = map[string]any{}
	}
	return req.Reply(jupyter.MsgInspectReply, jupyter.InspectReply{
		Status: "ok", Found: found, Data: data, Metadata: map[string]any{},
	}, nil)
}

func (k *Kernel) isComplete(req *jupyter.Request) error {
	var r jupyter.IsCompleteRequest
	if err := json.Unmarshal(req.Msg().Content, &r); err != nil {
		return k.badRequest(req, jupyter.MsgIsCompleteReply, err)
	}
	status, indent := k.interp.IsComplete(r.Code)
	return req.Reply(jupyter.MsgIsCompleteReply, jupyter.IsCompleteReply{Status: status, Indent: indent}, nil)
}

func (k *Kernel) historyReply(req *jupyter.Request) error {
	var q jupyter.HistoryRequest
	if err := json.Unmarshal(req.Msg().Content, &q); err != nil {
		return k.badRequest(req, jupyter.MsgHistoryReply, err)
	}
	return req.Reply(jupyter.MsgHistoryReply, jupyter.HistoryReply{Status: "ok", History: k.history.Query(q)}, nil)
}

// shutdown answers, and returns the shutdown itself to run after idle has
// been published: it stops the server that sends both.
func (k *Kernel) shutdown(req *jupyter.Request) (func(), error) {
	var r jupyter.ShutdownRequest
	if err := json.Unmarshal(req.Msg().Content, &r); err != nil {
		return nil, k.badRequest(req, jupyter.MsgShutdownReply, err)
	}
	err := req.Reply(jupyter.MsgShutdownReply, jupyter.ShutdownReply{Status: "ok", Restart: r.Restart}, nil)
	if k.onShutdown == nil {
		return nil, err
	}
	return func() { k.onShutdown(r.Restart) }, err
}

// publisher sends a running cell's output to the frontend as children of
// its execute_request.
type publisher struct {
	req        *jupyter.Request
	log        *slog.Logger
	silent     bool
	allowStdin bool
	ctx        context.Context
}

// Input sends input_request to the frontend and waits for its reply.
func (p *publisher) Input(prompt string, password bool) (string, error) {
	if !p.allowStdin {
		return "", errors.New("this frontend does not allow input (allow_stdin is false)")
	}
	return p.req.Input(p.ctx, prompt, password)
}

func (p *publisher) Stream(name, text string, metadata map[string]any) {
	if p.silent {
		return
	}
	if err := p.req.Publish(jupyter.MsgStream, jupyter.Stream{Name: name, Text: text}, metadata); err != nil {
		p.log.Error("publishing stream", "err", err)
	}
}

func (p *publisher) Display(d Display) {
	if p.silent {
		return
	}
	var err error
	switch {
	case d.Update:
		err = p.req.Publish(jupyter.MsgUpdateDisplayData, jupyter.UpdateDisplayData{
			Data: d.Data, Metadata: d.Metadata, Transient: jupyter.Transient{DisplayID: d.ID},
		}, nil)
	case d.ID != "":
		err = p.req.Publish(jupyter.MsgDisplayData, jupyter.DisplayData{
			Data: d.Data, Metadata: d.Metadata, Transient: &jupyter.Transient{DisplayID: d.ID},
		}, nil)
	default:
		err = p.req.Publish(jupyter.MsgDisplayData, jupyter.DisplayData{Data: d.Data, Metadata: d.Metadata}, nil)
	}
	if err != nil {
		p.log.Error("publishing display data", "err", err)
	}
}

func (p *publisher) Clear(wait bool) {
	if p.silent {
		return
	}
	if err := p.req.Publish(jupyter.MsgClearOutput, jupyter.ClearOutput{Wait: wait}, nil); err != nil {
		p.log.Error("publishing clear_output", "err", err)
	}
}
