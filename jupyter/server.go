package jupyter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
)

// Channel says which socket a message came in on, because the reply must go
// out on the same one (a control reply sent on shell is never seen by a
// frontend waiting on control).
type Channel int

// The five Jupyter channels.
const (
	Shell Channel = iota
	Control
	Stdin
	IOPub
	Heartbeat
)

// String gives the channel's name as used in the Jupyter docs and in logs.
func (c Channel) String() string {
	switch c {
	case Shell:
		return "shell"
	case Control:
		return "control"
	case Stdin:
		return "stdin"
	case IOPub:
		return "iopub"
	case Heartbeat:
		return "hb"
	}
	return fmt.Sprintf("Channel(%d)", int(c))
}

// Handler is the kernel logic. Handle is called for every authenticated
// message on shell (one at a time, in order, on the shell goroutine: it may
// block for as long as a cell runs) and on control (one at a time on a
// separate goroutine, so interrupt and shutdown get through while shell is
// busy). Handle runs concurrently with itself across the two channels.
// The server does not publish busy/idle itself: that is the handler's job,
// around every request.
type Handler interface {
	Handle(req *Request)
}

// HandlerFunc lets a plain function serve as a Handler (handy in tests).
type HandlerFunc func(req *Request)

// Handle calls f(req).
func (f HandlerFunc) Handle(req *Request) { f(req) }

// ErrClosed is returned by sends and Input once the server is closed, so a
// kernel that is shutting down can tell "no one to talk to" from real errors.
var ErrClosed = errors.New("jupyter: server closed")

// ErrStdinNotAllowed is returned by Request.Input when the execute_request
// said allow_stdin=false: the frontend cannot answer, so asking would hang.
var ErrStdinNotAllowed = errors.New("jupyter: frontend does not accept input requests (allow_stdin is false)")

// Server owns the five sockets of one kernel. Create it with Listen, run it
// with Serve, stop it with Close (or by cancelling Serve's context).
//
// Each libzmq socket is used under its own mutex (see owned): replies and
// publishes are sent by the goroutine that makes them, so one goroutine's
// publishes leave iopub in the order they were made; each receiving socket
// has a reader goroutine, so the heartbeat echoes by itself and control is
// served while a shell request runs.
type Server struct {
	info    ConnectionInfo
	opts    Options
	log     *slog.Logger
	signer  *Signer
	replays *replayGuard
	session string // this kernel's session id, in the header of every message it sends

	zctx      *zmqContext // this server's own libzmq context: Close terminates it
	socks     [5]*owned   // indexed by Channel
	endpoints [5]string   // what each socket is bound to (ZMQ_LAST_ENDPOINT)

	ctx     context.Context // cancelled by Close: Request.Context, Input
	cancel  context.CancelFunc
	closeMu sync.Mutex
	closed  bool
	bg      sync.WaitGroup // owner goroutines and the stdin reader
	serving atomic.Bool

	inputMu sync.Mutex
	waiters []*inputWaiter // pending Request.Input calls, oldest first
}

type inputWaiter struct {
	msgID string
	ch    chan string
}

// Listen binds all five sockets with the default Options and starts the
// heartbeat echo (so the kernel looks alive as soon as it is bound) and the
// stdin reader. Nothing on shell or control is handled until Serve. log may
// be nil (discard).
func Listen(info ConnectionInfo, log *slog.Logger) (*Server, error) {
	return ListenWith(info, log, Options{})
}

// ListenWith is Listen with transport limits other than the defaults.
func ListenWith(info ConnectionInfo, log *slog.Logger, opts Options) (*Server, error) {
	info, signer, log, err := info.prepare(log)
	if err != nil {
		return nil, fmt.Errorf("jupyter: listen: %w", err)
	}
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		info:    info,
		opts:    opts,
		log:     log,
		signer:  signer,
		replays: newReplayGuard(opts.ReplayHistory),
		session: uuid.NewString(),
		ctx:     ctx,
		cancel:  cancel,
	}
	if err := s.open(); err != nil {
		cancel()
		return nil, fmt.Errorf("jupyter: listen: %w", err)
	}
	s.bg.Add(1)
	go s.stdinLoop()
	log.Debug("jupyter: listening", "ip", info.IP, "shell", info.ShellPort, "iopub", info.IOPubPort,
		"stdin", info.StdinPort, "control", info.ControlPort, "hb", info.HBPort)
	return s, nil
}

// Session is the kernel's session id, sent in the header of all its messages.
func (s *Server) Session() string { return s.session }

// Info returns the connection info the server was bound with.
func (s *Server) Info() ConnectionInfo { return s.info }

// Serve dispatches shell and control requests to h until ctx is done or the
// server is closed, then closes the server and returns once its shell and
// control goroutines have ended, which includes waiting for Handle calls in
// progress (they can notice via Request.Context). It returns nil after Close,
// ctx.Err() after cancellation. It may be called only once.
func (s *Server) Serve(ctx context.Context, h Handler) error {
	if !s.serving.CompareAndSwap(false, true) {
		return errors.New("jupyter: Serve called twice")
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.requestLoop(Shell, h) }()
	go func() { defer wg.Done(); s.requestLoop(Control, h) }()
	var err error
	select {
	case <-ctx.Done():
		err = ctx.Err()
	case <-s.ctx.Done():
	}
	s.Close()
	wg.Wait()
	return err
}

// Close closes the sockets and wakes everything waiting on the server
// (Serve, Input, Request.Context). Messages already handed to a socket get
// Options.Linger to leave. Safe to call more than once and from inside a
// Handler (e.g. after replying to shutdown_request).
func (s *Server) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	s.closeMu.Unlock()
	s.cancel()
	return s.teardown()
}

func (s *Server) isClosed() bool {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	return s.closed
}

// decode authenticates frames and refuses replays; failures are logged and
// reported as nil.
func (s *Server) decode(ch Channel, frames [][]byte) *Message {
	m, err := s.signer.Decode(frames)
	if err == nil {
		err = s.replays.check(signatureOf(frames))
	}
	if err != nil {
		s.log.Warn("jupyter: dropping message", "channel", ch.String(), "frames", len(frames), "reason", err)
		return nil
	}
	return m
}

// requestLoop serves one ROUTER channel: one request at a time, in order.
func (s *Server) requestLoop(ch Channel, h Handler) {
	for {
		frames, ok := s.socks[ch].recv(s.ctx)
		if !ok {
			return
		}
		m := s.decode(ch, frames)
		if m == nil {
			continue
		}
		s.log.Debug("jupyter: request", "channel", ch.String(), "type", string(m.Header.MsgType), "msg_id", m.Header.MsgID)
		s.dispatch(h, &Request{srv: s, ch: ch, msg: m})
	}
}

// dispatch runs the handler, turning a panic into a log entry: one bad request
// should not kill a kernel holding hours of state.
func (s *Server) dispatch(h Handler, req *Request) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("jupyter: handler panicked", "channel", req.ch.String(),
				"type", string(req.msg.Header.MsgType), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	h.Handle(req)
}

// stdinLoop routes input_reply messages to the Request.Input waiting for them.
func (s *Server) stdinLoop() {
	defer s.bg.Done()
	for {
		frames, ok := s.socks[Stdin].recv(s.ctx)
		if !ok {
			return
		}
		m := s.decode(Stdin, frames)
		if m == nil {
			continue
		}
		if m.Header.MsgType != MsgInputReply {
			s.log.Warn("jupyter: dropping unexpected stdin message", "type", string(m.Header.MsgType))
			continue
		}
		var reply InputReply
		if err := json.Unmarshal(m.Content, &reply); err != nil {
			s.log.Warn("jupyter: dropping input_reply", "reason", err)
			continue
		}
		if !s.deliverInput(m.ParentHeader.MsgID, reply.Value) {
			s.log.Warn("jupyter: input_reply with nobody waiting", "parent", m.ParentHeader.MsgID)
		}
	}
}

// deliverInput hands value to the waiter whose input_request is parentID.
// jupyter_client's BlockingKernelClient.input sends its reply without a
// parent header, so an empty parentID goes to the oldest waiter.
func (s *Server) deliverInput(parentID, value string) bool {
	s.inputMu.Lock()
	defer s.inputMu.Unlock()
	for i, w := range s.waiters {
		if parentID == "" || w.msgID == parentID {
			s.waiters = append(s.waiters[:i], s.waiters[i+1:]...)
			w.ch <- value // buffered, never blocks
			return true
		}
	}
	return false
}

func (s *Server) removeWaiter(w *inputWaiter) {
	s.inputMu.Lock()
	defer s.inputMu.Unlock()
	for i, x := range s.waiters {
		if x == w {
			s.waiters = append(s.waiters[:i], s.waiters[i+1:]...)
			return
		}
	}
}

// newMessage builds an outgoing message in this kernel's session.
func (s *Server) newMessage(t MsgType, parent *Message, content any, metadata map[string]any) (*Message, error) {
	raw, err := marshalContent(content)
	if err != nil {
		return nil, fmt.Errorf("jupyter: encode %s content: %w", t, err)
	}
	username := "kernel"
	m := &Message{Metadata: metadata, Content: raw}
	if parent != nil {
		m.ParentHeader = parent.Header
		if parent.Header.Username != "" {
			username = parent.Header.Username
		}
	}
	m.Header = NewHeader(t, s.session, username)
	return m, nil
}

func marshalContent(content any) (json.RawMessage, error) {
	switch c := content.(type) {
	case nil:
		return json.RawMessage("{}"), nil
	case json.RawMessage:
		return c, nil
	case []byte:
		return json.RawMessage(c), nil
	}
	return json.Marshal(content)
}

// send encodes m and hands it to ch's owner.
func (s *Server) send(ch Channel, m *Message) error {
	frames, err := s.signer.Encode(m)
	if err != nil {
		return err
	}
	if s.isClosed() {
		return fmt.Errorf("jupyter: send %s on %s: %w", m.Header.MsgType, ch, ErrClosed)
	}
	if err := s.socks[ch].send(frames); err != nil {
		return fmt.Errorf("jupyter: send %s on %s: %w", m.Header.MsgType, ch, err)
	}
	return nil
}

// Publish broadcasts a message on iopub. parent may be nil for messages that
// answer nothing (the "starting" status); otherwise frontends attach the
// output to the parent's cell.
func (s *Server) Publish(parent *Message, t MsgType, content any, metadata map[string]any) error {
	m, err := s.newMessage(t, parent, content, metadata)
	if err != nil {
		return err
	}
	// The topic frame; subscribers (jupyter_client subscribes to "") ignore
	// it, ipykernel uses the same shape.
	m.Identities = [][]byte{[]byte("kernel." + s.session + "." + string(t))}
	return s.send(IOPub, m)
}

// Request is one authenticated message from a frontend on shell or control,
// with what is needed to answer it.
type Request struct {
	srv *Server
	ch  Channel
	msg *Message
}

// Channel is where the request arrived, and where Reply answers.
func (r *Request) Channel() Channel { return r.ch }

// Msg is the decoded request.
func (r *Request) Msg() *Message { return r.msg }

// Context is cancelled when the server closes, so a long handler (a running
// cell) can stop when the kernel goes away.
func (r *Request) Context() context.Context { return r.srv.ctx }

// Server gives handlers access to server-wide publishing (e.g. from goroutines
// that outlive the request).
func (r *Request) Server() *Server { return r.srv }

// Reply answers the request on the channel it came in on, routed to the
// requesting frontend (its identities), with the request as parent.
func (r *Request) Reply(t MsgType, content any, metadata map[string]any) error {
	m, err := r.srv.newMessage(t, r.msg, content, metadata)
	if err != nil {
		return err
	}
	m.Identities = r.msg.Identities
	return r.srv.send(r.ch, m)
}

// Publish broadcasts on iopub with this request as parent, so the output lands
// in the request's cell.
func (r *Request) Publish(t MsgType, content any, metadata map[string]any) error {
	return r.srv.Publish(r.msg, t, content, metadata)
}

// Input asks the requesting frontend for a line of text (input_request on
// stdin, routed by the request's identities) and waits for the answer, for
// ctx, or for the server to close. It returns ErrStdinNotAllowed without
// asking when the execute_request forbade stdin.
func (r *Request) Input(ctx context.Context, prompt string, password bool) (string, error) {
	if r.msg.Header.MsgType == MsgExecuteRequest {
		var ex ExecuteRequest
		if err := json.Unmarshal(r.msg.Content, &ex); err == nil && !ex.AllowStdin {
			return "", ErrStdinNotAllowed
		}
	}
	s := r.srv
	m, err := s.newMessage(MsgInputRequest, r.msg, InputRequest{Prompt: prompt, Password: password}, nil)
	if err != nil {
		return "", err
	}
	m.Identities = r.msg.Identities
	w := &inputWaiter{msgID: m.Header.MsgID, ch: make(chan string, 1)}
	s.inputMu.Lock()
	s.waiters = append(s.waiters, w)
	s.inputMu.Unlock()
	defer s.removeWaiter(w)
	if err := s.send(Stdin, m); err != nil {
		return "", err
	}
	select {
	case v := <-w.ch:
		return v, nil
	case <-ctx.Done():
		return "", fmt.Errorf("jupyter: waiting for input: %w", ctx.Err())
	case <-s.ctx.Done():
		return "", fmt.Errorf("jupyter: waiting for input: %w", ErrClosed)
	}
}
