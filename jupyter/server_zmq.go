//go:build cgo

package jupyter

import (
	"fmt"
	"strings"

	zmq "github.com/pebbe/zmq4"
)

// open creates the server's libzmq context, binds the five sockets and
// starts their owners.
func (s *Server) open() error {
	zctx, err := zmq.NewContext()
	if err != nil {
		return fmt.Errorf("new zmq context: %w", err)
	}
	s.zctx = zctx
	info := s.info
	ports := [5]int{info.ShellPort, info.ControlPort, info.StdinPort, info.IOPubPort, info.HBPort}
	for ch := range s.socks {
		o, ep, err := s.bind(Channel(ch), info.endpoint(ports[ch]))
		if err != nil {
			s.closeUnstarted()
			return err
		}
		s.socks[ch], s.endpoints[ch] = o, ep
	}
	for _, o := range s.socks {
		s.bg.Add(1)
		go func() { defer s.bg.Done(); o.run(s.ctx) }()
	}
	return nil
}

// bind creates, configures and binds the socket of ch, with its owner.
func (s *Server) bind(ch Channel, ep string) (*owned, string, error) {
	typ := zmq.ROUTER
	if ch == IOPub {
		typ = zmq.PUB
	}
	sock, err := s.zctx.NewSocket(typ)
	if err != nil {
		return nil, "", fmt.Errorf("%s socket: %w", ch, err)
	}
	fail := func(what string, err error) (*owned, string, error) {
		sock.Close()
		return nil, "", fmt.Errorf("%s %s socket on %s: %w", what, ch, ep, err)
	}
	if err := s.configure(ch, sock); err != nil {
		return fail("configure", err)
	}
	if err := sock.Bind(ep); err != nil {
		return fail("bind", err)
	}
	bound, err := sock.GetLastEndpoint()
	if err != nil {
		return fail("read endpoint of", err)
	}
	mode := sendAndRecv
	switch ch {
	case IOPub:
		mode = sendOnly
	case Heartbeat:
		mode = echo
	}
	o, err := newOwned(s.zctx, ch, sock, mode, s.log)
	if err != nil {
		return fail("set up", err)
	}
	return o, bound, nil
}

// sockopt is one socket option to set, named for the error message.
type sockopt struct {
	name string
	set  func() error
}

// configure applies Options to a socket before it is bound.
func (s *Server) configure(ch Channel, sock *zmq.Socket) error {
	o := s.opts
	opts := []sockopt{
		{"ZMQ_LINGER", func() error { return sock.SetLinger(o.Linger) }},
		{"ZMQ_HANDSHAKE_IVL", func() error { return sock.SetHandshakeIvl(o.HandshakeTimeout) }},
		{"ZMQ_IPV6", func() error { return sock.SetIpv6(strings.Contains(s.info.IP, ":")) }},
	}
	switch ch {
	case Shell, Control, Stdin:
		opts = append(opts,
			sockopt{"ZMQ_MAXMSGSIZE", func() error { return sock.SetMaxmsgsize(o.MaxMessageSize) }},
			// An unknown or full peer is an error for the caller of
			// Reply, and Input does not wait for an answer that cannot
			// come.
			sockopt{"ZMQ_ROUTER_MANDATORY", func() error { return sock.SetRouterMandatory(1) }},
			// A second connection with a connected peer's identity is
			// ignored, so it cannot take over the victim's replies.
			sockopt{"ZMQ_ROUTER_HANDOVER", func() error { return sock.SetRouterHandover(false) }})
	case Heartbeat:
		opts = append(opts,
			sockopt{"ZMQ_MAXMSGSIZE", func() error { return sock.SetMaxmsgsize(o.MaxPingSize) }},
			sockopt{"ZMQ_SNDHWM", func() error { return sock.SetSndhwm(heartbeatHWM) }},
			sockopt{"ZMQ_RCVHWM", func() error { return sock.SetRcvhwm(heartbeatHWM) }},
			sockopt{"ZMQ_ROUTER_HANDOVER", func() error { return sock.SetRouterHandover(false) }})
	case IOPub:
		opts = append(opts,
			sockopt{"ZMQ_MAXMSGSIZE", func() error { return sock.SetMaxmsgsize(o.MaxPingSize) }},
			sockopt{"ZMQ_SNDHWM", func() error { return sock.SetSndhwm(o.IOPubHWM) }})
	}
	for _, x := range opts {
		if err := x.set(); err != nil {
			return fmt.Errorf("set %s: %w", x.name, err)
		}
	}
	return nil
}

// closeUnstarted releases what a failed Listen had bound, before any owner
// goroutine started.
func (s *Server) closeUnstarted() {
	for _, o := range s.socks {
		if o != nil {
			o.closeUnstarted()
		}
	}
	if err := s.zctx.Term(); err != nil {
		s.log.Warn("jupyter: terminate zmq context after failed listen", "err", err)
	}
}

// teardown stops every owner, then terminates the libzmq context, which
// waits (at most the linger time) for queued messages to leave.
func (s *Server) teardown() error {
	for _, o := range s.socks {
		if o != nil {
			o.stop()
		}
	}
	s.bg.Wait()
	if err := s.zctx.Term(); err != nil {
		return fmt.Errorf("jupyter: close: terminate zmq context: %w", err)
	}
	return nil
}
