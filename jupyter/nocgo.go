//go:build !cgo

package jupyter

import (
	"context"
	"errors"
)

// Without cgo there is no libzmq: the protocol types, Handler and Request
// still compile (so the kernel core builds and is tested without cgo), but
// Listen and Dial fail with errNoCgo.

var errNoCgo = errors.New("built without cgo: the Jupyter sockets need libzmq (CGO_ENABLED=1, libzmq3-dev)")

type zmqContext struct{}

type owned struct{}

func (*owned) send([][]byte) error { return errNoCgo }

func (*owned) recv(context.Context) ([][]byte, bool) { return nil, false }

func (s *Server) open() error { return errNoCgo }

func (s *Server) teardown() error { return nil }

func (c *Client) open() error { return errNoCgo }

func (c *Client) teardown() error { return nil }
