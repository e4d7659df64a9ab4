//go:build cgo

package jupyter

import (
	"context"
	"testing"
	"time"
)

// BenchmarkRoundTrip is one request as a frontend sees it: kernel_info on
// shell, its reply, and busy/idle on iopub, through real sockets on
// 127.0.0.1 (the transport's share of a trivial cell's round trip).
//
//	go test -run '^$' -bench RoundTrip ./jupyter
func BenchmarkRoundTrip(b *testing.B) {
	_, c, ctx := infoServer(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, err := c.Send(Shell, MsgKernelInfoRequest, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Recv(ctx, Shell); err != nil {
			b.Fatal(err)
		}
		for idle := false; !idle; {
			m, err := c.Recv(ctx, IOPub)
			if err != nil {
				b.Fatal(err)
			}
			idle = m.ParentHeader.MsgID == req.Header.MsgID && string(m.Content) == `{"execution_state":"idle"}`
		}
	}
}

// infoServer starts a server that answers every request as a kernel
// answers kernel_info (busy on iopub, the reply, idle) and returns a
// client that has seen it ready, with a context that bounds the test.
func infoServer(tb testing.TB) (*Server, *Client, context.Context) {
	tb.Helper()
	srv, info, _ := startServer(tb, HandlerFunc(func(r *Request) {
		r.Publish(MsgStatus, Status{ExecutionState: StateBusy}, nil)
		r.Reply(MsgKernelInfoReply, KernelInfoReply{Implementation: "bench"}, nil)
		r.Publish(MsgStatus, Status{ExecutionState: StateIdle}, nil)
	}))
	c, err := Dial(info, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	tb.Cleanup(cancel)
	if _, err := c.WaitReady(ctx); err != nil {
		tb.Fatal(err)
	}
	return srv, c, ctx
}
