//go:build cgo

package jupyter

import (
	"context"
	"testing"
	"time"
)

// TestPipelinedRequests sends many requests at once while the server
// replies to the earlier ones on the same ROUTER socket. A reply's send
// can consume libzmq's signal that the next request arrived (ZMQ_FD is
// edge-triggered); the sender must then poke the reader, or the server
// sleeps on a request it never sees and this test times out.
func TestPipelinedRequests(t *testing.T) {
	srv, c, ctx := infoServer(t)
	const n = 300
	for round := 0; round < 5; round++ {
		for i := 0; i < n; i++ {
			if _, err := c.Send(Shell, MsgKernelInfoRequest, nil); err != nil {
				t.Fatalf("round %d, request %d: %v", round, i, err)
			}
		}
		for i := 0; i < n; i++ {
			rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
			m, err := c.Recv(rctx, Shell)
			rcancel()
			if err != nil {
				t.Fatalf("round %d: reply %d of %d: %v", round, i+1, n, err)
			}
			if m.Header.MsgType != MsgKernelInfoReply {
				t.Fatalf("round %d: reply %d is %s", round, i+1, m.Header.MsgType)
			}
		}
	}
	// Each message must have been found through libzmq's signal (or a
	// poke), none only by the reader's bounded periodic look.
	for ch, o := range srv.socks {
		if o != nil && o.foundLate.Load() != 0 {
			t.Errorf("server %s: %d message(s) found only by the periodic look", Channel(ch), o.foundLate.Load())
		}
	}
	for ch, o := range c.socks {
		if o != nil && o.foundLate.Load() != 0 {
			t.Errorf("client %s: %d message(s) found only by the periodic look", Channel(ch), o.foundLate.Load())
		}
	}
}
