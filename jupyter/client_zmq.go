//go:build cgo

package jupyter

import (
	"fmt"
	"net"
	"strconv"

	zmq "github.com/pebbe/zmq4"
)

// open creates the client's libzmq context, connects the five sockets and
// starts their owners.
func (c *Client) open() error {
	zctx, err := zmq.NewContext()
	if err != nil {
		return fmt.Errorf("new zmq context: %w", err)
	}
	c.zctx = zctx
	info := c.info
	ports := [5]int{info.ShellPort, info.ControlPort, info.StdinPort, info.IOPubPort, info.HBPort}
	for ch := range c.socks {
		o, err := c.connect(Channel(ch), ports[ch])
		if err != nil {
			for _, o := range c.socks {
				if o != nil {
					o.closeUnstarted()
				}
			}
			zctx.Term()
			return err
		}
		c.socks[ch] = o
	}
	for _, o := range c.socks {
		c.bg.Add(1)
		go func() { defer c.bg.Done(); o.run(c.ctx) }()
	}
	return nil
}

// connect makes the socket of one channel and its owner.
func (c *Client) connect(ch Channel, port int) (*owned, error) {
	typ := zmq.DEALER
	if ch == IOPub {
		typ = zmq.SUB
	}
	sock, err := c.zctx.NewSocket(typ)
	if err != nil {
		return nil, fmt.Errorf("%s socket: %w", ch, err)
	}
	// The client connects to the kernel's address as written in the
	// connection file; "0.0.0.0" (all interfaces) is reached on loopback.
	host := c.info.IP
	if host == "0.0.0.0" || host == "*" {
		host = "127.0.0.1"
	}
	ep := c.info.Transport + "://" + net.JoinHostPort(host, strconv.Itoa(port))
	opts := []sockopt{
		// Close must not wait for a kernel that is gone.
		{"ZMQ_LINGER", func() error { return sock.SetLinger(0) }},
		{"ZMQ_IPV6", func() error { return sock.SetIpv6(net.ParseIP(host).To4() == nil) }},
	}
	switch ch {
	case Shell, Control, Stdin:
		opts = append(opts, sockopt{"ZMQ_ROUTING_ID", func() error { return sock.SetIdentity(c.session) }})
	case IOPub:
		opts = append(opts, sockopt{"ZMQ_SUBSCRIBE", func() error { return sock.SetSubscribe("") }})
	}
	for _, o := range opts {
		if err := o.set(); err != nil {
			sock.Close()
			return nil, fmt.Errorf("%s socket: set %s: %w", ch, o.name, err)
		}
	}
	if err := sock.Connect(ep); err != nil {
		sock.Close()
		return nil, fmt.Errorf("connect %s socket to %s: %w", ch, ep, err)
	}
	o, err := newOwned(c.zctx, ch, sock, sendAndRecv, c.log)
	if err != nil {
		sock.Close()
		return nil, err
	}
	return o, nil
}

// teardown stops the owners and terminates the context.
func (c *Client) teardown() error {
	for _, o := range c.socks {
		o.stop()
	}
	c.bg.Wait()
	if err := c.zctx.Term(); err != nil {
		return fmt.Errorf("jupyter: close client: terminate zmq context: %w", err)
	}
	return nil
}
