package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os/user"
	"sync"

	"github.com/google/uuid"

	"github.com/gompi-kernel/gompi-kernel/jupyter"
)

// Client speaks the Jupyter protocol to one kernel over a Transport:
// requests on shell and control matched to their replies by the parent
// header's msg_id, iopub and stdin messages delivered on channels. Messages
// are built and checked with package jupyter's types and Signer; a message
// with a bad signature is dropped and logged, as the kernel does.
type Client struct {
	t       Transport
	signer  *jupyter.Signer
	session string
	user    string
	log     *slog.Logger

	// IOPub delivers every iopub message; Stdin the kernel's
	// input_requests. Both are closed when the transport fails or closes.
	IOPub chan *jupyter.Message
	Stdin chan *jupyter.Message

	mu      sync.Mutex
	waiting map[string]chan *jupyter.Message // request msg_id -> its reply
	done    chan struct{}                    // closed when a receive loop ends
	once    sync.Once
}

// NewClient starts receiving from t; info gives the signing key.
func NewClient(t Transport, info jupyter.ConnectionInfo, log *slog.Logger) (*Client, error) {
	signer, err := jupyter.NewSigner(info.SignatureScheme, info.Key)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	name := "gompi"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	c := &Client{t: t, signer: signer, session: uuid.NewString(), user: name, log: log,
		IOPub: make(chan *jupyter.Message, 1024), Stdin: make(chan *jupyter.Message, 4),
		waiting: map[string]chan *jupyter.Message{}, done: make(chan struct{})}
	var wg sync.WaitGroup
	for _, ch := range []jupyter.Channel{jupyter.Shell, jupyter.Control, jupyter.Stdin, jupyter.IOPub} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.receive(ch)
		}()
	}
	go func() {
		wg.Wait()
		close(c.IOPub)
		close(c.Stdin)
	}()
	return c, nil
}

// Session is the client's session id, the parent session of the outputs
// its requests caused.
func (c *Client) Session() string { return c.session }

// Done is closed once the connection to the kernel failed or was closed.
func (c *Client) Done() <-chan struct{} { return c.done }

// Close ends the connection.
func (c *Client) Close() error {
	c.stop()
	return c.t.Close()
}

func (c *Client) stop() { c.once.Do(func() { close(c.done) }) }

// receive reads one channel until the transport ends.
func (c *Client) receive(ch jupyter.Channel) {
	defer c.stop()
	for {
		frames, err := c.t.Recv(ch)
		if err != nil {
			return
		}
		m, err := c.signer.Decode(frames)
		if err != nil {
			c.log.Warn("dropped a message", "channel", ch, "err", err)
			continue
		}
		switch ch {
		case jupyter.IOPub:
			select {
			case c.IOPub <- m:
			case <-c.done:
				return
			}
		case jupyter.Stdin:
			select {
			case c.Stdin <- m:
			case <-c.done:
				return
			}
		default:
			c.mu.Lock()
			w, ok := c.waiting[m.ParentHeader.MsgID]
			delete(c.waiting, m.ParentHeader.MsgID)
			c.mu.Unlock()
			if ok {
				w <- m
			}
		}
	}
}

// Send sends a request and returns its header (whose msg_id its outputs and
// reply name as parent) and a channel that receives its reply (for shell
// and control; nil on stdin).
func (c *Client) Send(ch jupyter.Channel, t jupyter.MsgType, content any, parent *jupyter.Header) (jupyter.Header, <-chan *jupyter.Message, error) {
	m, err := c.NewMessage(t, content, parent)
	if err != nil {
		return jupyter.Header{}, nil, err
	}
	reply, err := c.SendMessage(ch, m)
	if err != nil {
		return jupyter.Header{}, nil, err
	}
	return m.Header, reply, nil
}

// NewMessage builds a request of this client's session. Its msg_id is
// known before it is sent, so that a caller can be ready for what the
// kernel publishes about it (the idle status may overtake Send's return).
func (c *Client) NewMessage(t jupyter.MsgType, content any, parent *jupyter.Header) (*jupyter.Message, error) {
	raw, err := json.Marshal(content)
	if err != nil {
		return nil, fmt.Errorf("console: encode %s: %w", t, err)
	}
	m := &jupyter.Message{Header: jupyter.NewHeader(t, c.session, c.user), Content: raw}
	if parent != nil {
		m.ParentHeader = *parent
	}
	return m, nil
}

// SendMessage signs and sends m on ch and returns a channel that receives
// its reply (for shell and control; nil on stdin).
func (c *Client) SendMessage(ch jupyter.Channel, m *jupyter.Message) (<-chan *jupyter.Message, error) {
	frames, err := c.signer.Encode(m)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	var reply chan *jupyter.Message
	if ch != jupyter.Stdin {
		reply = make(chan *jupyter.Message, 1)
		c.mu.Lock()
		c.waiting[m.Header.MsgID] = reply
		c.mu.Unlock()
	}
	if err := c.t.Send(ch, frames); err != nil {
		c.forget(m.Header.MsgID)
		return nil, err
	}
	return reply, nil
}

// errClosed says the connection ended while waiting for a reply.
var errClosed = errors.New("console: the connection to the kernel ended")

// Request sends a request and waits for its reply, decoding the reply's
// content into out (if not nil).
func (c *Client) Request(ctx context.Context, ch jupyter.Channel, t jupyter.MsgType, content, out any) (*jupyter.Message, error) {
	h, reply, err := c.Send(ch, t, content, nil)
	if err != nil {
		return nil, err
	}
	select {
	case m := <-reply:
		if out != nil {
			if err := json.Unmarshal(m.Content, out); err != nil {
				return m, fmt.Errorf("console: decode %s: %w", m.Header.MsgType, err)
			}
		}
		return m, nil
	case <-ctx.Done():
		c.forget(h.MsgID)
		return nil, fmt.Errorf("console: %s: %w", t, ctx.Err())
	case <-c.done:
		return nil, errClosed
	}
}

// forget stops waiting for the reply to msgID.
func (c *Client) forget(msgID string) {
	c.mu.Lock()
	delete(c.waiting, msgID)
	c.mu.Unlock()
}
