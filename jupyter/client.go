package jupyter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Client is a frontend's end of a kernel's five channels: DEALERs on shell,
// control and stdin (their routing id is the client's session id, as with
// jupyter_client, so the kernel's input_request on stdin reaches the client
// whose shell request asked for it), a SUB on iopub subscribed to
// everything, and a DEALER for heartbeats. Messages from the kernel are
// authenticated with the connection's key; bad ones are logged and
// skipped. Like the Server, each socket has one owner goroutine, so every
// method may be called from any goroutine; each channel's messages are
// delivered to one Recv at a time, in order.
type Client struct {
	info    ConnectionInfo
	log     *slog.Logger
	signer  *Signer
	session string
	zctx    *zmqContext
	socks   [5]*owned
	pings   atomic.Uint64 // numbers heartbeat pings, so a late echo is not taken for a new one

	ctx       context.Context // cancelled by Close
	cancel    context.CancelFunc
	bg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Dial connects to the kernel described by info. Connecting does not wait
// for the kernel: use WaitReady before the first request whose iopub output
// matters (subscriptions take effect asynchronously). log may be nil.
func Dial(info ConnectionInfo, log *slog.Logger) (*Client, error) {
	info, signer, log, err := info.prepare(log)
	if err != nil {
		return nil, fmt.Errorf("jupyter: dial: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{info: info, log: log, signer: signer, session: uuid.NewString(), ctx: ctx, cancel: cancel}
	if err := c.open(); err != nil {
		cancel()
		return nil, fmt.Errorf("jupyter: dial: %w", err)
	}
	return c, nil
}

// Session is the client's session id: the session of its messages' headers
// and the routing id of its shell, control and stdin sockets.
func (c *Client) Session() string { return c.session }

// Send signs and sends a message of type t on shell, control or stdin and
// returns it; replies carry its Header as their ParentHeader.
func (c *Client) Send(ch Channel, t MsgType, content any) (*Message, error) {
	return c.send(ch, t, nil, content)
}

func (c *Client) send(ch Channel, t MsgType, parent *Message, content any) (*Message, error) {
	if ch != Shell && ch != Control && ch != Stdin {
		return nil, fmt.Errorf("jupyter: client cannot send on %s", ch)
	}
	raw, err := marshalContent(content)
	if err != nil {
		return nil, fmt.Errorf("jupyter: encode %s content: %w", t, err)
	}
	m := &Message{Header: NewHeader(t, c.session, "gompi"), Content: raw}
	if parent != nil {
		m.ParentHeader = parent.Header
	}
	frames, err := c.signer.Encode(m)
	if err != nil {
		return nil, err
	}
	if c.ctx.Err() != nil {
		return nil, fmt.Errorf("jupyter: send %s on %s: %w", t, ch, ErrClosed)
	}
	if err := c.socks[ch].send(frames); err != nil {
		return nil, fmt.Errorf("jupyter: send %s on %s: %w", t, ch, err)
	}
	return m, nil
}

// Recv returns the next authenticated message from the kernel on shell,
// control, stdin or iopub, waiting for ctx or Close.
func (c *Client) Recv(ctx context.Context, ch Channel) (*Message, error) {
	if ch == Heartbeat {
		return nil, errors.New("jupyter: use Ping for the heartbeat")
	}
	for {
		if c.ctx.Err() != nil {
			return nil, fmt.Errorf("jupyter: receive on %s: %w", ch, ErrClosed)
		}
		frames, ok := c.socks[ch].recv(ctx)
		if !ok {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("jupyter: receive on %s: %w", ch, err)
			}
			return nil, fmt.Errorf("jupyter: receive on %s: %w", ch, ErrClosed)
		}
		m, err := c.signer.Decode(frames)
		if err != nil {
			c.log.Warn("jupyter: client dropping message", "channel", ch.String(), "reason", err)
			continue
		}
		return m, nil
	}
}

// SendFrames sends a message already signed and encoded (Signer.Encode)
// on shell, control or stdin: for a frontend that builds its own messages,
// such as the console.
func (c *Client) SendFrames(ch Channel, frames [][]byte) error {
	if ch != Shell && ch != Control && ch != Stdin {
		return fmt.Errorf("jupyter: client cannot send on %s", ch)
	}
	if c.ctx.Err() != nil {
		return fmt.Errorf("jupyter: send on %s: %w", ch, ErrClosed)
	}
	if err := c.socks[ch].send(frames); err != nil {
		return fmt.Errorf("jupyter: send on %s: %w", ch, err)
	}
	return nil
}

// RecvFrames returns the next message's frames on ch as they arrived, not
// yet verified: the caller decodes them with its Signer.
func (c *Client) RecvFrames(ctx context.Context, ch Channel) ([][]byte, error) {
	if ch == Heartbeat {
		return nil, errors.New("jupyter: use Ping for the heartbeat")
	}
	frames, ok := c.socks[ch].recv(ctx)
	if !ok {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("jupyter: receive on %s: %w", ch, err)
		}
		return nil, fmt.Errorf("jupyter: receive on %s: %w", ch, ErrClosed)
	}
	return frames, nil
}

// Request sends a message on ch (shell or control) and returns the reply
// to it; other messages arriving on ch meanwhile (replies to requests of
// this client that nobody waits for) are dropped.
func (c *Client) Request(ctx context.Context, ch Channel, t MsgType, content any) (*Message, error) {
	req, err := c.Send(ch, t, content)
	if err != nil {
		return nil, err
	}
	for {
		m, err := c.Recv(ctx, ch)
		if err != nil {
			return nil, err
		}
		if m.ParentHeader.MsgID == req.Header.MsgID {
			return m, nil
		}
		c.log.Debug("jupyter: client dropping unawaited reply", "channel", ch.String(), "type", string(m.Header.MsgType))
	}
}

// AnswerInput answers an input_request received on stdin.
func (c *Client) AnswerInput(req *Message, value string) error {
	_, err := c.send(Stdin, MsgInputReply, req, InputReply{Value: value})
	return err
}

// Ping sends one heartbeat and waits for its echo.
func (c *Client) Ping(ctx context.Context) error {
	want := []byte("ping-" + strconv.FormatUint(c.pings.Add(1), 10))
	if err := c.socks[Heartbeat].send([][]byte{want}); err != nil {
		return fmt.Errorf("jupyter: ping: %w", err)
	}
	for {
		frames, ok := c.socks[Heartbeat].recv(ctx)
		if !ok {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("jupyter: ping: %w", err)
			}
			return fmt.Errorf("jupyter: ping: %w", ErrClosed)
		}
		if len(frames) == 1 && string(frames[0]) == string(want) {
			return nil
		}
	}
}

// WaitReady returns once the kernel answers kernel_info on shell and its
// iopub output reaches this client, which is when the output of the next
// request will not be lost to a subscription still in flight
// (jupyter_client's wait_for_ready does the same). iopub messages read
// meanwhile are dropped. It returns the kernel_info_reply.
func (c *Client) WaitReady(ctx context.Context) (*Message, error) {
	for {
		reply, err := c.Request(ctx, Shell, MsgKernelInfoRequest, nil)
		if err != nil {
			return nil, err
		}
		// The kernel publishes busy and idle around kernel_info; if
		// neither arrives soon, the subscription was not yet in place.
		wait, cancel := context.WithTimeout(ctx, subscriptionWait)
		for {
			m, err := c.Recv(wait, IOPub)
			if err != nil {
				break
			}
			if m.ParentHeader.MsgID == reply.ParentHeader.MsgID {
				cancel()
				return reply, nil
			}
		}
		cancel()
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("jupyter: wait for kernel: %w", err)
		}
	}
}

// subscriptionWait is how long WaitReady waits for iopub output before it
// asks again.
const subscriptionWait = 500 * time.Millisecond

// Close disconnects; messages not yet sent are dropped.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.cancel()
		c.closeErr = c.teardown()
	})
	return c.closeErr
}
