package kernel

import (
	"context"
	"encoding/json"
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
	active  int           // requests being served
	drained chan struct{} // closed and replaced when active drops to 0
	count   int           // execution_count of the latest stored execution
	history History
	// abortBefore: after a cell failed with stop_on_error, execute requests
	// sent before that moment (a notebook's "Run All" queues them all at
	// once) are answered "aborted" instead of run, as ipykernel does.
	abortBefore time.Time
}

// NewKernel routes requests to interp. ctx bounds every cell; onShutdown is
// called once a shutdown_request has been answered.
func NewKernel(ctx context.Context, interp Interpreter, log *slog.Logger, onShutdown func(restart bool)) *Kernel {
	return &Kernel{interp: interp, log: log, ctx: ctx, onShutdown: onShutdown, drained: make(chan struct{})}
}

// Drain waits until no request is being served, at most d; it reports
// whether none is.
func (k *Kernel) Drain(d time.Duration) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		k.mu.Lock()
		n, ch := k.active, k.drained
		k.mu.Unlock()
		if n == 0 {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}

// track counts a request in (+1) or out (-1).
func (k *Kernel) track(delta int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.active += delta
	if k.active == 0 {
		close(k.drained)
		k.drained = make(chan struct{})
	}
}

// Serve answers one request: busy, the reply and whatever the request
// publishes, idle. The Jupyter server calls it for every authenticated
// request: shell requests one at a time, control requests on their own
// goroutine, so an interrupt or shutdown is served while a cell runs.
func (k *Kernel) Serve(req Exchange) {
	k.track(+1)
	defer k.track(-1)
	msg := req.Msg()
	k.status(req, jupyter.StateBusy)

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
		err = req.Reply(jupyter.MsgCommInfoReply, jupyter.CommInfoReply{Status: jupyter.StatusOK}, nil)
	case jupyter.MsgInterruptRequest:
		k.interp.Interrupt()
		err = req.Reply(jupyter.MsgInterruptReply, jupyter.InterruptReply{Status: jupyter.StatusOK}, nil)
	case jupyter.MsgShutdownRequest:
		after, err = k.shutdown(req)
	default:
		err = k.unsupported(req)
	}
	if err != nil {
		k.log.Error("answering request", "type", msg.Header.MsgType, "channel", req.Channel(), "err", err)
	}
	k.status(req, jupyter.StateIdle)
	if after != nil {
		after()
	}
}

func (k *Kernel) status(req Exchange, state string) {
	if err := req.Publish(jupyter.MsgStatus, jupyter.Status{ExecutionState: state}, nil); err != nil {
		k.log.Error("publishing status", "state", state, "err", err)
	}
}

// unsupported answers a request this kernel does not implement with an
// error reply of the matching type, so that no client waits forever.
func (k *Kernel) unsupported(req Exchange) error {
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

func (k *Kernel) kernelInfo(req Exchange) error {
	return req.Reply(jupyter.MsgKernelInfoReply, jupyter.KernelInfoReply{
		Status:                jupyter.StatusOK,
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

func (k *Kernel) execute(req Exchange) error {
	var r jupyter.ExecuteRequest
	if err := json.Unmarshal(req.Msg().Content, &r); err != nil {
		return k.badRequest(req, jupyter.MsgExecuteReply, err)
	}
	if k.queuedBeforeFailure(req.Msg().Header.Date) {
		return req.Reply(jupyter.MsgExecuteReply, map[string]any{"status": jupyter.StatusAborted, "execution_count": nil}, map[string]any{"status": jupyter.StatusAborted})
	}
	if payload := k.payloadFor(r.Code); payload != nil {
		return req.Reply(jupyter.MsgExecuteReply, jupyter.ExecuteReply{
			Status: jupyter.StatusOK, ExecutionCount: k.currentCount(), Payload: []map[string]any{payload},
		}, map[string]any{"status": jupyter.StatusOK})
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

	out := &publisher{x: req, log: k.log, silent: r.Silent, ctx: k.ctx}
	ctx := k.ctx
	if store {
		ctx = WithCellLabel(ctx, fmt.Sprintf("cell %d", count))
	}
	res := k.interp.Execute(ctx, r.Code, out)
	return k.finishCell(req, r, count, store, res)
}

// payloadFor answers, as IPython does, the two requests that are not code:
// "name?" shows what inspect would, in the pager, and exit/quit asks a
// console to leave (shutting down a kernel it started). Nil for code.
func (k *Kernel) payloadFor(code string) map[string]any {
	if name, ok := helpRequest(code); ok {
		data, found := k.interp.Inspect(name, len([]rune(name)), 1)
		if !found {
			data = map[string]any{"text/plain": fmt.Sprintf("no information about %s", name)}
		}
		return map[string]any{"source": "page", "data": data, "start": 0}
	}
	if IsExitCommand(code) {
		return map[string]any{"source": "ask_exit", "keepkernel": false}
	}
	return nil
}

// finishCell publishes a cell's result or error, records it in history and
// sends the execute_reply.
func (k *Kernel) finishCell(req Exchange, r jupyter.ExecuteRequest, count int, store bool, res Outcome) error {
	var shown string
	if res.Data != nil && !r.Silent {
		shown, _ = res.Data["text/plain"].(string)
		if err := req.Publish(jupyter.MsgExecuteResult, jupyter.ExecuteResult{
			ExecutionCount: count, Data: res.Data,
		}, nil); err != nil {
			return err
		}
	}
	if store {
		k.history.Add(count, r.Code, shown)
	}
	if res.Err == nil {
		return req.Reply(jupyter.MsgExecuteReply, jupyter.ExecuteReply{Status: jupyter.StatusOK, ExecutionCount: count},
			map[string]any{"status": jupyter.StatusOK})
	}
	if r.StopOnError {
		k.mu.Lock()
		k.abortBefore = time.Now()
		k.mu.Unlock()
	}
	e := res.Err
	if !r.Silent {
		if err := req.Publish(jupyter.MsgError, jupyter.Error{EName: e.Name, EValue: e.Value, Traceback: e.Traceback}, nil); err != nil {
			return err
		}
	}
	return req.Reply(jupyter.MsgExecuteReply, jupyter.ExecuteReply{
		Status: jupyter.StatusError, ExecutionCount: count, EName: e.Name, EValue: e.Value, Traceback: e.Traceback,
	}, map[string]any{"status": jupyter.StatusError})
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

// IsExitCommand reports whether code is a request to leave the console.
func IsExitCommand(code string) bool {
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
func (k *Kernel) badRequest(req Exchange, reply jupyter.MsgType, err error) error {
	k.log.Warn("malformed request content", "type", req.Msg().Header.MsgType, "err", err)
	return req.Reply(reply, jupyter.ErrorReply{EName: "BadRequest", EValue: err.Error()}, nil)
}

func (k *Kernel) complete(req Exchange) error {
	var r jupyter.CompleteRequest
	if err := json.Unmarshal(req.Msg().Content, &r); err != nil {
		return k.badRequest(req, jupyter.MsgCompleteReply, err)
	}
	c := k.interp.Complete(r.Code, r.CursorPos)
	return req.Reply(jupyter.MsgCompleteReply, jupyter.CompleteReply{
		Status: jupyter.StatusOK, Matches: c.Matches, CursorStart: c.Start, CursorEnd: c.End,
	}, nil)
}

func (k *Kernel) inspect(req Exchange) error {
	var r jupyter.InspectRequest
	if err := json.Unmarshal(req.Msg().Content, &r); err != nil {
		return k.badRequest(req, jupyter.MsgInspectReply, err)
	}
	data, found := k.interp.Inspect(r.Code, r.CursorPos, r.DetailLevel)
	return req.Reply(jupyter.MsgInspectReply, jupyter.InspectReply{Status: jupyter.StatusOK, Found: found, Data: data}, nil)
}

func (k *Kernel) isComplete(req Exchange) error {
	var r jupyter.IsCompleteRequest
	if err := json.Unmarshal(req.Msg().Content, &r); err != nil {
		return k.badRequest(req, jupyter.MsgIsCompleteReply, err)
	}
	status, indent := k.interp.IsComplete(r.Code)
	return req.Reply(jupyter.MsgIsCompleteReply, jupyter.IsCompleteReply{Status: status, Indent: indent}, nil)
}

func (k *Kernel) historyReply(req Exchange) error {
	var q jupyter.HistoryRequest
	if err := json.Unmarshal(req.Msg().Content, &q); err != nil {
		return k.badRequest(req, jupyter.MsgHistoryReply, err)
	}
	return req.Reply(jupyter.MsgHistoryReply, jupyter.HistoryReply{Status: jupyter.StatusOK, History: k.history.Query(q)}, nil)
}

// shutdown answers, and returns the shutdown itself to run after idle has
// been published: it stops the server that sends both.
func (k *Kernel) shutdown(req Exchange) (func(), error) {
	var r jupyter.ShutdownRequest
	if err := json.Unmarshal(req.Msg().Content, &r); err != nil {
		return nil, k.badRequest(req, jupyter.MsgShutdownReply, err)
	}
	err := req.Reply(jupyter.MsgShutdownReply, jupyter.ShutdownReply{Status: jupyter.StatusOK, Restart: r.Restart}, nil)
	if k.onShutdown == nil {
		return nil, err
	}
	return func() { k.onShutdown(r.Restart) }, err
}
