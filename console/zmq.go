package console

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/gompi-kernel/gompi-kernel/jupyter"
)

// clientTransport is the Transport over jupyter.Client, the kernel's own
// libzmq client (github.com/pebbe/zmq4): DEALER sockets for shell, control
// and stdin with one identity (the kernel sends input_request to the
// identity that sent execute_request), SUB for iopub, each socket owned by
// one goroutine as libzmq requires.
type clientTransport struct {
	c      *jupyter.Client
	ctx    context.Context
	cancel context.CancelFunc
}

// Dial connects to the kernel described by info.
func Dial(info jupyter.ConnectionInfo) (Transport, error) {
	c, err := jupyter.Dial(info, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, fmt.Errorf("console: connect: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &clientTransport{c: c, ctx: ctx, cancel: cancel}, nil
}

func (t *clientTransport) Send(ch jupyter.Channel, frames [][]byte) error {
	if ch == jupyter.IOPub {
		return fmt.Errorf("console: cannot send on %s", ch)
	}
	return t.c.SendFrames(ch, frames)
}

func (t *clientTransport) Recv(ch jupyter.Channel) ([][]byte, error) {
	return t.c.RecvFrames(t.ctx, ch)
}

func (t *clientTransport) Close() error {
	t.cancel()
	return t.c.Close()
}
