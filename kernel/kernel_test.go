package kernel

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gompi-kernel/gompi-kernel/jupyter"
	"github.com/gompi-kernel/gompi-kernel/kernel/session"
)

// fakeInterp is an Interpreter that runs nothing: a cell "print X" streams
// X, "fail" fails, "value" returns 42, "ask" reads a line; every cell run is
// recorded.
type fakeInterp struct {
	mu    sync.Mutex
	ran   []string
	intrs int
}

func (f *fakeInterp) Execute(_ context.Context, code string, out Output) Outcome {
	f.mu.Lock()
	f.ran = append(f.ran, code)
	f.mu.Unlock()
	switch {
	case strings.HasPrefix(code, "print "):
		out.Stream("stdout", strings.TrimPrefix(code, "print ")+"\n", nil)
	case code == "fail":
		return Outcome{Err: &session.Error{Name: "Panic", Value: "boom", Traceback: []string{"panic: boom"}}}
	case code == "value":
		return Outcome{Data: map[string]any{"text/plain": "42"}}
	case code == "ask":
		line, err := out.Input("name: ", false)
		if err != nil {
			out.Stream("stderr", err.Error()+"\n", nil)
		} else {
			out.Stream("stdout", "hello "+line+"\n", nil)
		}
	}
	return Outcome{}
}

func (f *fakeInterp) Complete(code string, cursor int) session.Completion {
	return session.Completion{Matches: []string{"Println"}, Start: cursor - 3, End: cursor}
}

func (f *fakeInterp) Inspect(code string, cursor, detail int) (map[string]any, bool) {
	if code == "fmt.Println" {
		return map[string]any{"text/plain": "func Println(a ...any) (n int, err error)"}, true
	}
	return nil, false
}

func (f *fakeInterp) IsComplete(code string) (string, string) { return "complete", "" }
func (f *fakeInterp) Interrupt()                              { f.mu.Lock(); f.intrs++; f.mu.Unlock() }
func (f *fakeInterp) Shutdown(context.Context) error          { return nil }
func (f *fakeInterp) Banner() string                          { return "fake" }

// sent is one message a handler sent: a reply or a publish.
type sent struct {
	reply   bool
	typ     jupyter.MsgType
	content map[string]any
}

// exchange is a recorded request, as httptest.ResponseRecorder records a
// response: the message in, every reply and publish out, in order.
type exchange struct {
	msg    *jupyter.Message
	input  string // the line a frontend types at an input_request
	noIn   bool   // the frontend said allow_stdin=false
	prompt string
	out    []sent
}

func newExchange(t *testing.T, typ jupyter.MsgType, content any, date time.Time) *exchange {
	t.Helper()
	b, err := json.Marshal(content)
	if err != nil {
		t.Fatal(err)
	}
	return &exchange{msg: &jupyter.Message{
		Header:  jupyter.Header{MsgID: "m1", MsgType: typ, Date: date.Format(time.RFC3339Nano)},
		Content: b,
	}}
}

func (x *exchange) Msg() *jupyter.Message    { return x.msg }
func (x *exchange) Channel() jupyter.Channel { return jupyter.Shell }

func (x *exchange) Reply(t jupyter.MsgType, content any, _ map[string]any) error {
	return x.record(true, t, content)
}

func (x *exchange) Publish(t jupyter.MsgType, content any, _ map[string]any) error {
	return x.record(false, t, content)
}

func (x *exchange) Input(_ context.Context, prompt string, _ bool) (string, error) {
	if x.noIn {
		return "", jupyter.ErrStdinNotAllowed
	}
	x.prompt = prompt
	return x.input, nil
}

// record keeps content as a frontend would decode it from the wire.
func (x *exchange) record(reply bool, t jupyter.MsgType, content any) error {
	b, err := json.Marshal(content)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	x.out = append(x.out, sent{reply, t, m})
	return nil
}

// types lists what was sent, replies marked with "reply:".
func (x *exchange) types() string {
	var s []string
	for _, m := range x.out {
		name := string(m.typ)
		if m.typ == jupyter.MsgStatus {
			name = m.content["execution_state"].(string)
		}
		if m.reply {
			name = "reply:" + name
		}
		s = append(s, name)
	}
	return strings.Join(s, " ")
}

// the returns the content of the first message of type t.
func (x *exchange) the(t *testing.T, typ jupyter.MsgType) map[string]any {
	t.Helper()
	for _, m := range x.out {
		if m.typ == typ {
			return m.content
		}
	}
	t.Fatalf("no %s in %s", typ, x.types())
	return nil
}

func newTestKernel() (*Kernel, *fakeInterp) {
	f := &fakeInterp{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return NewKernel(context.Background(), f, log, nil), f
}

func execute(t *testing.T, k *Kernel, code string, mod func(*jupyter.ExecuteRequest)) *exchange {
	t.Helper()
	r := jupyter.ExecuteRequest{Code: code, StoreHistory: true, AllowStdin: true}
	if mod != nil {
		mod(&r)
	}
	x := newExchange(t, jupyter.MsgExecuteRequest, r, time.Now())
	x.noIn = !r.AllowStdin
	k.Serve(x)
	return x
}

func TestExecuteOrderAndCounts(t *testing.T) {
	k, _ := newTestKernel()
	x := execute(t, k, "print hi", nil)
	if got, want := x.types(), "busy execute_input stream reply:execute_reply idle"; got != want {
		t.Errorf("sent %q, want %q", got, want)
	}
	if c := x.the(t, jupyter.MsgExecuteReply); c["status"] != "ok" || c["execution_count"] != 1.0 {
		t.Errorf("reply %v", c)
	}
	x = execute(t, k, "value", nil)
	if got, want := x.types(), "busy execute_input execute_result reply:execute_reply idle"; got != want {
		t.Errorf("sent %q, want %q", got, want)
	}
	if c := x.the(t, jupyter.MsgExecuteResult); c["execution_count"] != 2.0 || c["data"].(map[string]any)["text/plain"] != "42" {
		t.Errorf("result %v", c)
	}
}

func TestExecuteErrorIsOneMessage(t *testing.T) {
	k, _ := newTestKernel()
	x := execute(t, k, "fail", nil)
	if got, want := x.types(), "busy execute_input error reply:execute_reply idle"; got != want {
		t.Errorf("sent %q, want %q", got, want)
	}
	c := x.the(t, jupyter.MsgExecuteReply)
	if c["status"] != "error" || c["ename"] != "Panic" || c["evalue"] != "boom" {
		t.Errorf("reply %v", c)
	}
}

// TestStopOnErrorAborts: a notebook's Run All queues every cell at once; the
// cells sent before a failure are answered "aborted" and not run, a cell
// sent after it runs.
func TestStopOnErrorAborts(t *testing.T) {
	k, f := newTestKernel()
	queued := time.Now()
	execute(t, k, "fail", func(r *jupyter.ExecuteRequest) { r.StopOnError = true })
	x := newExchange(t, jupyter.MsgExecuteRequest, jupyter.ExecuteRequest{Code: "print queued", StoreHistory: true}, queued)
	k.Serve(x)
	if c := x.the(t, jupyter.MsgExecuteReply); c["status"] != "aborted" {
		t.Errorf("queued cell: %v", c)
	}
	later := execute(t, k, "print later", nil)
	if c := later.the(t, jupyter.MsgExecuteReply); c["status"] != "ok" {
		t.Errorf("later cell: %v", c)
	}
	if got := strings.Join(f.ran, "|"); got != "fail|print later" {
		t.Errorf("ran %q", got)
	}
}

func TestSilentPublishesNothingAndDoesNotCount(t *testing.T) {
	k, _ := newTestKernel()
	x := execute(t, k, "print hi", func(r *jupyter.ExecuteRequest) { r.Silent = true })
	if got, want := x.types(), "busy reply:execute_reply idle"; got != want {
		t.Errorf("sent %q, want %q", got, want)
	}
	x = execute(t, k, "print hi", nil)
	if c := x.the(t, jupyter.MsgExecuteReply); c["execution_count"] != 1.0 {
		t.Errorf("count after a silent cell: %v", c["execution_count"])
	}
}

func TestHistoryRequest(t *testing.T) {
	k, _ := newTestKernel()
	execute(t, k, "print a", nil)
	execute(t, k, "value", nil)
	execute(t, k, "print c", func(r *jupyter.ExecuteRequest) { r.StoreHistory = false })
	x := newExchange(t, jupyter.MsgHistoryRequest, jupyter.HistoryRequest{HistAccessType: "tail", N: 10, Output: true}, time.Now())
	k.Serve(x)
	h := x.the(t, jupyter.MsgHistoryReply)["history"].([]any)
	if len(h) != 2 {
		t.Fatalf("history %v", h)
	}
	second := h[1].([]any)
	if second[1] != 2.0 || second[2].([]any)[0] != "value" || second[2].([]any)[1] != "42" {
		t.Errorf("second entry %v", second)
	}
}

func TestHelpAndExit(t *testing.T) {
	k, f := newTestKernel()
	x := execute(t, k, "fmt.Println?", nil)
	p := x.the(t, jupyter.MsgExecuteReply)["payload"].([]any)
	if len(p) != 1 || p[0].(map[string]any)["source"] != "page" ||
		!strings.Contains(p[0].(map[string]any)["data"].(map[string]any)["text/plain"].(string), "func Println") {
		t.Errorf("help payload %v", p)
	}
	x = execute(t, k, "nosuch?", nil)
	p = x.the(t, jupyter.MsgExecuteReply)["payload"].([]any)
	if p[0].(map[string]any)["data"].(map[string]any)["text/plain"] != "no information about nosuch" {
		t.Errorf("unknown name payload %v", p)
	}
	x = execute(t, k, "exit", nil)
	p = x.the(t, jupyter.MsgExecuteReply)["payload"].([]any)
	if p[0].(map[string]any)["source"] != "ask_exit" {
		t.Errorf("exit payload %v", p)
	}
	if len(f.ran) != 0 {
		t.Errorf("help and exit ran code: %q", f.ran)
	}
}

func TestInput(t *testing.T) {
	k, _ := newTestKernel()
	r := jupyter.ExecuteRequest{Code: "ask", AllowStdin: true}
	x := newExchange(t, jupyter.MsgExecuteRequest, r, time.Now())
	x.input = "Grace"
	k.Serve(x)
	if x.prompt != "name: " || x.the(t, jupyter.MsgStream)["text"] != "hello Grace\n" {
		t.Errorf("prompt %q, sent %v", x.prompt, x.out)
	}
	x = execute(t, k, "ask", func(r *jupyter.ExecuteRequest) { r.AllowStdin = false })
	if s := x.the(t, jupyter.MsgStream); s["name"] != "stderr" || !strings.Contains(s["text"].(string), "this frontend does not allow input") {
		t.Errorf("without stdin: %v", s)
	}
}

func TestOtherRequests(t *testing.T) {
	k, f := newTestKernel()
	for _, tc := range []struct {
		typ     jupyter.MsgType
		content any
		reply   jupyter.MsgType
		check   func(map[string]any) bool
	}{
		{jupyter.MsgKernelInfoRequest, struct{}{}, jupyter.MsgKernelInfoReply,
			func(c map[string]any) bool {
				return c["banner"] == "fake" && c["language_info"].(map[string]any)["name"] == "go"
			}},
		{jupyter.MsgCompleteRequest, jupyter.CompleteRequest{Code: "fmt.Pri", CursorPos: 7}, jupyter.MsgCompleteReply,
			func(c map[string]any) bool { return c["cursor_start"] == 4.0 && c["matches"].([]any)[0] == "Println" }},
		{jupyter.MsgInspectRequest, jupyter.InspectRequest{Code: "nothing"}, jupyter.MsgInspectReply,
			func(c map[string]any) bool { return c["found"] == false && c["data"] != nil }},
		{jupyter.MsgInterruptRequest, struct{}{}, jupyter.MsgInterruptReply,
			func(c map[string]any) bool { return c["status"] == "ok" }},
		{"frobnicate_request", struct{}{}, "frobnicate_reply",
			func(c map[string]any) bool { return c["status"] == "error" && c["ename"] == "NotImplemented" }},
	} {
		x := newExchange(t, tc.typ, tc.content, time.Now())
		k.Serve(x)
		if got, want := x.types(), "busy reply:"+string(tc.reply)+" idle"; got != want {
			t.Errorf("%s: sent %q, want %q", tc.typ, got, want)
			continue
		}
		if c := x.the(t, tc.reply); !tc.check(c) {
			t.Errorf("%s: reply %v", tc.typ, c)
		}
	}
	if f.intrs != 1 {
		t.Errorf("interrupts %d, want 1", f.intrs)
	}
}

func TestMalformedContentGetsAnErrorReply(t *testing.T) {
	k, _ := newTestKernel()
	x := &exchange{msg: &jupyter.Message{Header: jupyter.Header{MsgType: jupyter.MsgExecuteRequest}, Content: json.RawMessage(`[1,2]`)}}
	k.Serve(x)
	if c := x.the(t, jupyter.MsgExecuteReply); c["status"] != "error" || c["ename"] != "BadRequest" {
		t.Errorf("reply %v", c)
	}
}

func TestShutdownAfterIdle(t *testing.T) {
	var order []string
	f := &fakeInterp{}
	k := NewKernel(context.Background(), f, slog.New(slog.NewTextHandler(io.Discard, nil)), func(restart bool) {
		order = append(order, "shutdown")
	})
	x := newExchange(t, jupyter.MsgShutdownRequest, jupyter.ShutdownRequest{Restart: true}, time.Now())
	k.Serve(x)
	order = append([]string{x.types()}, order...)
	if got, want := strings.Join(order, " then "), "busy reply:shutdown_reply idle then shutdown"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if x.the(t, jupyter.MsgShutdownReply)["restart"] != true {
		t.Error("restart not echoed")
	}
}

// blockingInterp runs a cell until release is closed.
type blockingInterp struct {
	fakeInterp
	started, release chan struct{}
}

func (b *blockingInterp) Execute(ctx context.Context, code string, out Output) Outcome {
	close(b.started)
	<-b.release
	return Outcome{}
}

// TestDrainWaitsForTheRequestInFlight: a terminated kernel lets the cell
// in flight reply first, for at most the given time.
func TestDrainWaitsForTheRequestInFlight(t *testing.T) {
	b := &blockingInterp{started: make(chan struct{}), release: make(chan struct{})}
	k := NewKernel(context.Background(), b, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if !k.Drain(time.Millisecond) {
		t.Fatal("an idle kernel is not drained")
	}
	x := newExchange(t, jupyter.MsgExecuteRequest, jupyter.ExecuteRequest{Code: "x"}, time.Now())
	done := make(chan struct{})
	go func() { k.Serve(x); close(done) }()
	<-b.started
	if k.Drain(10 * time.Millisecond) {
		t.Fatal("drained while a cell runs")
	}
	drained := make(chan bool)
	go func() { drained <- k.Drain(time.Minute) }()
	close(b.release)
	if !<-drained {
		t.Fatal("not drained after the cell ended")
	}
	<-done
	if got := x.types(); !strings.HasSuffix(got, "reply:execute_reply idle") {
		t.Errorf("sent %q", got)
	}
}
