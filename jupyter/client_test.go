//go:build cgo

package jupyter

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"testing"
	"time"
)

// iopubUntilIdle collects the iopub messages of parent until its idle status.
func iopubUntilIdle(t *testing.T, ctx context.Context, c *Client, parent string) []*Message {
	t.Helper()
	var out []*Message
	for {
		m, err := c.Recv(ctx, IOPub)
		if err != nil {
			t.Fatalf("iopub: %v (got %d messages)", err, len(out))
		}
		if m.ParentHeader.MsgID != parent {
			continue
		}
		out = append(out, m)
		var st Status
		if m.Header.MsgType == MsgStatus && json.Unmarshal(m.Content, &st) == nil && st.ExecutionState == StateIdle {
			return out
		}
	}
}

func TestClientAgainstServer(t *testing.T) {
	before := runtime.NumGoroutine()
	srv, info, _ := startServer(t, &testKernel{t: t})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Dial(info, nil)
	if err != nil {
		t.Fatal(err)
	}
	info0, err := c.WaitReady(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ki KernelInfoReply
	if err := json.Unmarshal(info0.Content, &ki); err != nil || ki.LanguageInfo.Name != "go" {
		t.Errorf("kernel_info_reply %s (%v)", info0.Content, err)
	}
	if info0.Header.Session != srv.Session() {
		t.Errorf("reply session %q, want the server's %q", info0.Header.Session, srv.Session())
	}

	// execute: reply on shell, output on iopub, in order.
	req, err := c.Send(Shell, MsgExecuteRequest, ExecuteRequest{Code: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	var types []MsgType
	for _, m := range iopubUntilIdle(t, ctx, c, req.Header.MsgID) {
		types = append(types, m.Header.MsgType)
	}
	if want := []MsgType{MsgStatus, MsgExecuteInput, MsgStream, MsgStatus}; !equalTypes(types, want) {
		t.Errorf("iopub %v, want %v", types, want)
	}
	rep, err := c.Recv(ctx, Shell)
	if err != nil || rep.Header.MsgType != MsgExecuteReply || rep.ParentHeader.MsgID != req.Header.MsgID {
		t.Fatalf("execute reply %+v %v", rep, err)
	}

	// stdin: the server's input_request reaches this client; the answer
	// reaches the handler.
	req, err = c.Send(Shell, MsgExecuteRequest, ExecuteRequest{Code: "input:Name? ", AllowStdin: true})
	if err != nil {
		t.Fatal(err)
	}
	ireq, err := c.Recv(ctx, Stdin)
	if err != nil || ireq.Header.MsgType != MsgInputRequest || ireq.ParentHeader.MsgID != req.Header.MsgID {
		t.Fatalf("input_request %+v %v", ireq, err)
	}
	if err := c.AnswerInput(ireq, "Gopher"); err != nil {
		t.Fatal(err)
	}
	var streamed []string
	for _, m := range iopubUntilIdle(t, ctx, c, req.Header.MsgID) {
		var s Stream
		if m.Header.MsgType == MsgStream && json.Unmarshal(m.Content, &s) == nil {
			streamed = append(streamed, s.Text)
		}
	}
	if len(streamed) != 2 || streamed[1] != "got:Gopher" {
		t.Errorf("streams %q, want the answer echoed", streamed)
	}
	if rep, err := c.Recv(ctx, Shell); err != nil || rep.ParentHeader.MsgID != req.Header.MsgID {
		t.Fatalf("execute reply %+v %v", rep, err)
	}

	// control, and the heartbeat.
	rep, err = c.Request(ctx, Control, MsgInterruptRequest, nil)
	if err != nil || rep.Header.MsgType != MsgInterruptReply {
		t.Fatalf("interrupt reply %+v %v", rep, err)
	}
	for i := 0; i < 3; i++ {
		if err := c.Ping(ctx); err != nil {
			t.Fatalf("ping %d: %v", i, err)
		}
	}

	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := c.Send(Shell, MsgKernelInfoRequest, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
	if _, err := c.Recv(ctx, IOPub); !errors.Is(err, ErrClosed) {
		t.Errorf("Recv after Close = %v, want ErrClosed", err)
	}
	srv.Close()
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines: %d before, %d after Close\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

func TestClientRecvCancelled(t *testing.T) {
	_, info, _ := startServer(t, HandlerFunc(func(*Request) {}))
	c, err := Dial(info, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Recv(ctx, Shell); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Recv with nothing to receive = %v, want DeadlineExceeded", err)
	}
	if _, err := c.Send(IOPub, MsgStatus, nil); err == nil {
		t.Error("Send on iopub accepted")
	}
}

func equalTypes(a, b []MsgType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
