package console

import (
	"context"
	"fmt"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/google/uuid"

	"github.com/gompi-kernel/gompi-kernel/jupyter"
)

// zmqTransport is the Transport over github.com/go-zeromq/zmq4, the library
// package jupyter uses: DEALER sockets for shell, control and stdin (shell
// and stdin with the same identity, since the kernel sends input_request to
// the identity that sent execute_request), SUB for iopub.
type zmqTransport struct {
	cancel context.CancelFunc
	socks  map[jupyter.Channel]zmq4.Socket
}

// Dial connects to the kernel described by info. The kernel must be
// listening (its ports bound): the console waits for that before dialing.
func Dial(info jupyter.ConnectionInfo) (Transport, error) {
	ctx, cancel := context.WithCancel(context.Background())
	t := &zmqTransport{cancel: cancel, socks: map[jupyter.Channel]zmq4.Socket{}}
	id := zmq4.SocketIdentity("gompi-console-" + uuid.NewString())
	opts := []zmq4.Option{zmq4.WithDialerRetry(100 * time.Millisecond), zmq4.WithDialerMaxRetries(100), zmq4.WithTimeout(10 * time.Second)}
	t.socks[jupyter.Shell] = zmq4.NewDealer(ctx, append(opts, zmq4.WithID(id))...)
	t.socks[jupyter.Stdin] = zmq4.NewDealer(ctx, append(opts, zmq4.WithID(id))...)
	t.socks[jupyter.Control] = zmq4.NewDealer(ctx, append(opts, zmq4.WithID(zmq4.SocketIdentity("gompi-console-ctl-"+uuid.NewString())))...)
	t.socks[jupyter.IOPub] = zmq4.NewSub(ctx, opts...)
	if err := t.socks[jupyter.IOPub].SetOption(zmq4.OptionSubscribe, ""); err != nil {
		_ = t.Close()
		return nil, fmt.Errorf("console: iopub subscribe: %w", err)
	}
	ports := map[jupyter.Channel]int{jupyter.Shell: info.ShellPort, jupyter.Stdin: info.StdinPort,
		jupyter.Control: info.ControlPort, jupyter.IOPub: info.IOPubPort}
	for _, ch := range []jupyter.Channel{jupyter.IOPub, jupyter.Shell, jupyter.Stdin, jupyter.Control} {
		if err := t.socks[ch].Dial(endpoint(info, ports[ch])); err != nil {
			_ = t.Close()
			return nil, fmt.Errorf("console: connect %s: %w", ch, err)
		}
	}
	return t, nil
}

// endpoint is the address to dial for port: a kernel bound to every
// interface (0.0.0.0) is reached on the loopback.
func endpoint(info jupyter.ConnectionInfo, port int) string {
	ip := info.IP
	if ip == "" || ip == "0.0.0.0" || ip == "*" {
		ip = "127.0.0.1"
	}
	transport := info.Transport
	if transport == "" {
		transport = "tcp"
	}
	return fmt.Sprintf("%s://%s:%d", transport, ip, port)
}

func (t *zmqTransport) Send(ch jupyter.Channel, frames [][]byte) error {
	s, ok := t.socks[ch]
	if !ok || ch == jupyter.IOPub {
		return fmt.Errorf("console: cannot send on %s", ch)
	}
	if err := s.SendMulti(zmq4.NewMsgFrom(frames...)); err != nil {
		return fmt.Errorf("console: send on %s: %w", ch, err)
	}
	return nil
}

func (t *zmqTransport) Recv(ch jupyter.Channel) ([][]byte, error) {
	s, ok := t.socks[ch]
	if !ok {
		return nil, fmt.Errorf("console: no %s socket", ch)
	}
	for {
		msg, err := s.Recv()
		if err != nil {
			return nil, fmt.Errorf("console: receive on %s: %w", ch, err)
		}
		if msg.Type == zmq4.CmdMsg {
			continue // the library's own commands, not a Jupyter message
		}
		return msg.Frames, nil
	}
}

func (t *zmqTransport) Close() error {
	t.cancel()
	var first error
	for _, s := range t.socks {
		if err := s.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
