package jupyter

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// Options tune the five sockets. The zero value of a field means its
// default; ListenWith(info, log, Options{}) is Listen(info, log).
//
// The defaults are chosen so that a local user who lacks the key can neither
// kill nor stall the kernel (issue 10), while any legitimate frontend is
// unaffected.
type Options struct {
	// MaxMessageSize bounds one frame received on shell, control or stdin
	// (ZMQ_MAXMSGSIZE). A peer announcing a bigger frame is disconnected
	// before anything is allocated. Default DefaultMaxMessageSize; -1 means
	// no limit (libzmq's own default, which lets a 73-byte header announce
	// 2^40 bytes).
	MaxMessageSize int64
	// MaxPingSize bounds one frame received on the heartbeat socket and one
	// subscription frame on iopub, where legitimate frames are a few bytes
	// (jupyter_client pings with "ping" and subscribes to ""). Default
	// DefaultMaxPingSize.
	MaxPingSize int64
	// HandshakeTimeout drops a connection that has not completed the ZMTP
	// greeting in time (ZMQ_HANDSHAKE_IVL). libzmq handshakes each
	// connection on its own, so an idle one never delays others; the
	// deadline only frees its resources. Default DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// IOPubHWM is the number of messages queued for one iopub subscriber
	// (ZMQ_SNDHWM of the PUB socket, counted per subscriber). A subscriber
	// that falls that far behind loses messages; the others and the kernel
	// are unaffected. Default DefaultIOPubHWM.
	IOPubHWM int
	// Linger is how long Close lets queued messages (a shutdown_reply, the
	// last idle status) drain before the sockets go (ZMQ_LINGER). Close
	// never takes much longer than this. Default DefaultLinger.
	Linger time.Duration
	// ReplayHistory is how many signatures of received messages are
	// remembered to refuse replays. Default DefaultReplayHistory; -1 turns
	// the check off.
	ReplayHistory int
}

// Defaults of Options.
const (
	// DefaultMaxMessageSize (1 GiB) is 20 times the 50 MB frames that
	// legitimate clients are known to send (file uploads through widgets,
	// big comm buffers) and far below what would exhaust a workstation: to
	// make the kernel hold a gigabyte, a peer must actually send one.
	DefaultMaxMessageSize int64 = 1 << 30
	// DefaultMaxPingSize (64 KiB) is thousands of times what any frontend
	// sends on heartbeat or as an iopub subscription.
	DefaultMaxPingSize int64 = 64 << 10
	// DefaultHandshakeTimeout (10 s): a local or tunnelled client greets in
	// milliseconds; libzmq's own default is 30 s.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultIOPubHWM is libzmq's default high-water mark, the one
	// ipykernel runs with.
	DefaultIOPubHWM = 1000
	// DefaultLinger: ipykernel lingers 1 s on iopub for the same reason.
	DefaultLinger = time.Second
)

// heartbeatHWM bounds what a heartbeat peer can have queued in each
// direction. A frontend has one ping in flight; the rest is an abuser's.
const heartbeatHWM = 16

func (o Options) withDefaults() Options {
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.MaxPingSize == 0 {
		o.MaxPingSize = DefaultMaxPingSize
	}
	if o.HandshakeTimeout == 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.IOPubHWM == 0 {
		o.IOPubHWM = DefaultIOPubHWM
	}
	if o.Linger == 0 {
		o.Linger = DefaultLinger
	}
	if o.ReplayHistory == 0 {
		o.ReplayHistory = DefaultReplayHistory
	}
	if o.ReplayHistory < 0 {
		o.ReplayHistory = 0
	}
	return o
}

// owned is one libzmq socket together with the goroutine that alone touches
// it: libzmq sockets are not thread-safe, while the server sends from many
// goroutines (replies from the shell and control handlers, output from a
// running cell). Other goroutines hand it messages through the out channel
// and poke it through an inproc wake-up socket, which the owner polls
// together with its network socket; received messages go to the consumer
// through in. Nothing the owner does can block on a peer: every send is
// DONTWAIT, so a peer that stops reading only loses its own messages.
//
// A send-only socket (the kernel's iopub PUB) needs no poll, so it skips
// the hand-over: senders take sendMu and send themselves, one at a time
// (libzmq allows a socket to move between threads behind a full memory
// barrier, which the mutex is). That saves two thread wake-ups per
// published message, most of a trivial cell's messages.
type owned struct {
	ch   Channel
	sock *zmq.Socket // the network socket; owner goroutine only, or under sendMu if direct
	log  *slog.Logger

	direct     bool       // send-only: senders use sock under sendMu
	sendMu     sync.Mutex // guards sock and sockClosed when direct
	sockClosed bool

	wakeR  *zmq.Socket // owner's end of the wake-up pair; owner goroutine only
	wakeMu sync.Mutex  // serializes wake-ups: a socket is used by one goroutine at a time
	wakeW  *zmq.Socket // everybody else's end; nil once closed

	receives bool          // poll sock for input (not iopub)
	echo     bool          // heartbeat: send every message straight back
	out      chan *outMsg  // messages to send, in order
	in       chan [][]byte // received messages for the consumer (nil for echo)
	holding  atomic.Bool   // the owner may hold a message that did not fit in in
	done     chan struct{} // closed when the owner has closed its sockets
}

type outMsg struct {
	frames [][]byte
	done   chan error // buffered: the owner never blocks on it
}

// ownerMode says what an owner does with its socket.
type ownerMode int

const (
	sendOnly    ownerMode = iota // the kernel's iopub PUB
	sendAndRecv                  // ROUTERs and the client's DEALERs and SUB
	echo                         // the kernel's heartbeat
)

// newOwned creates the wake-up pair for sock. Call run in a goroutine to
// start the owner.
func newOwned(zctx *zmq.Context, ch Channel, sock *zmq.Socket, mode ownerMode, log *slog.Logger) (*owned, error) {
	o := &owned{
		ch:       ch,
		sock:     sock,
		log:      log,
		receives: mode != sendOnly,
		direct:   mode == sendOnly,
		echo:     mode == echo,
		out:      make(chan *outMsg, 64),
		done:     make(chan struct{}),
	}
	if o.receives && !o.echo {
		// One slot: the owner fills it without blocking, the consumer
		// empties it and wakes the owner to refill it.
		o.in = make(chan [][]byte, 1)
	}
	addr := fmt.Sprintf("inproc://wake-%s", ch)
	var err error
	if o.wakeR, err = zctx.NewSocket(zmq.PAIR); err != nil {
		return nil, fmt.Errorf("wake-up socket for %s: %w", ch, err)
	}
	if o.wakeW, err = zctx.NewSocket(zmq.PAIR); err != nil {
		o.wakeR.Close()
		return nil, fmt.Errorf("wake-up socket for %s: %w", ch, err)
	}
	for _, s := range []*zmq.Socket{o.wakeR, o.wakeW} {
		if err = s.SetLinger(0); err != nil {
			break
		}
	}
	if err == nil {
		err = o.wakeR.Bind(addr)
	}
	if err == nil {
		err = o.wakeW.Connect(addr)
	}
	if err != nil {
		o.wakeR.Close()
		o.wakeW.Close()
		return nil, fmt.Errorf("wake-up pair %s: %w", addr, err)
	}
	return o, nil
}

// wake makes the owner look at its out channel (and at in, if it has a
// received message waiting for room). A wake-up that finds the pipe full
// is dropped: one pending wake-up is as good as many.
func (o *owned) wake() {
	o.wakeMu.Lock()
	defer o.wakeMu.Unlock()
	if o.wakeW != nil {
		o.wakeW.SendBytes(nil, zmq.DONTWAIT)
	}
}

// send queues frames for the owner and waits until libzmq has taken them
// (or refused them), so errors reach the caller and messages from one
// goroutine leave in the order they were sent.
func (o *owned) send(frames [][]byte) error {
	if o.direct {
		o.sendMu.Lock()
		defer o.sendMu.Unlock()
		if o.sockClosed {
			return ErrClosed
		}
		if _, err := o.sock.SendMessageDontwait(frames); err != nil {
			return sendError(err)
		}
		return nil
	}
	m := &outMsg{frames: frames, done: make(chan error, 1)}
	select {
	case o.out <- m:
	case <-o.done:
		return ErrClosed
	}
	o.wake()
	select {
	case err := <-m.done:
		return err
	case <-o.done:
		select {
		case err := <-m.done:
			return err
		default:
			return ErrClosed
		}
	}
}

// recv returns the next message received on the socket, or false once the
// server is closing.
func (o *owned) recv(ctx context.Context) ([][]byte, bool) {
	select {
	case frames := <-o.in:
		if o.holding.Load() {
			o.wake() // the owner holds the next message, waiting for room
		}
		return frames, true
	case <-ctx.Done():
		return nil, false
	case <-o.done:
		return nil, false
	}
}

// stop ends the owner (ctx must be cancelled already) and closes the
// wake-up pair. Messages still queued in libzmq drain for the socket's
// linger time while the context terminates.
func (o *owned) stop() {
	o.wake()
	<-o.done
	o.wakeMu.Lock()
	if o.wakeW != nil {
		o.wakeW.Close()
		o.wakeW = nil
	}
	o.wakeMu.Unlock()
}

// maxBurst bounds how many messages the owner receives in one go before it
// looks at its wake-up socket again, so a flood on one socket cannot delay
// the replies queued for it.
const maxBurst = 64

// run is the owner goroutine: it sends what is queued, receives what
// arrives, and returns when ctx is done, closing its sockets.
func (o *owned) run(ctx context.Context) {
	defer close(o.done)
	defer o.closeSockets()
	if o.direct {
		<-ctx.Done()
		return
	}
	poller := zmq.NewPoller()
	poller.Add(o.wakeR, zmq.POLLIN)
	sockID := -1
	if o.receives {
		sockID = poller.Add(o.sock, zmq.POLLIN)
	}
	var pending [][]byte // received, not yet taken by the consumer
	for {
		if sockID >= 0 {
			// While the consumer is busy (a cell runs), leave further
			// messages in libzmq, whose per-peer high-water mark then
			// pushes back on the sender instead of our memory growing.
			var ev zmq.State
			if pending == nil {
				ev = zmq.POLLIN
			}
			poller.Update(sockID, ev)
		}
		polled, err := poller.PollAll(-1)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			o.log.Error("jupyter: poll failed", "channel", o.ch.String(), "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		if polled[0].Events&zmq.POLLIN != 0 {
			o.drainWake()
		}
		o.flush()
		if sockID >= 0 && polled[sockID].Events&zmq.POLLIN != 0 {
			pending = o.receive(pending)
		}
		if pending != nil {
			// holding is set before the attempt: a consumer that
			// empties in after a failed attempt then sees it and
			// wakes us, so no wake-up is lost.
			o.holding.Store(true)
			select {
			case o.in <- pending:
				pending = nil
				o.holding.Store(false)
			default:
			}
		}
	}
}

// receive reads what is available: on heartbeat it echoes up to maxBurst
// pings; elsewhere it reads one message into pending.
func (o *owned) receive(pending [][]byte) [][]byte {
	for i := 0; i < maxBurst; i++ {
		frames, err := o.sock.RecvMessageBytes(zmq.DONTWAIT)
		if err != nil {
			if zmq.AsErrno(err) != zmq.Errno(syscall.EAGAIN) {
				o.log.Warn("jupyter: receive failed", "channel", o.ch.String(), "err", err)
			}
			return pending
		}
		if !o.echo {
			return frames
		}
		// ROUTER without ROUTER_MANDATORY drops a message for a peer
		// whose queue is full: a peer that does not read its echoes
		// loses them and delays nobody.
		if _, err := o.sock.SendMessageDontwait(frames); err != nil {
			o.log.Debug("jupyter: heartbeat echo failed", "err", err)
		}
	}
	return pending
}

// closeSockets fails what is still queued and closes the owner's sockets.
func (o *owned) closeSockets() {
	o.failQueued()
	o.sendMu.Lock()
	o.sockClosed = true
	err := o.sock.Close()
	o.sendMu.Unlock()
	if err != nil {
		o.log.Warn("jupyter: close socket", "channel", o.ch.String(), "err", err)
	}
	o.wakeR.Close()
}

func (o *owned) drainWake() {
	for {
		if _, err := o.wakeR.RecvBytes(zmq.DONTWAIT); err != nil {
			return
		}
	}
}

// flush sends everything queued, each message without waiting: PUB drops a
// message for a subscriber at its high-water mark, and a ROUTER with
// ROUTER_MANDATORY reports an unknown or full peer as an error.
func (o *owned) flush() {
	for {
		select {
		case m := <-o.out:
			_, err := o.sock.SendMessageDontwait(m.frames)
			if err != nil {
				err = sendError(err)
			}
			m.done <- err
		default:
			return
		}
	}
}

// sendError says what a failed DONTWAIT send on a ROUTER means for the
// caller.
func sendError(err error) error {
	switch zmq.AsErrno(err) {
	case zmq.EHOSTUNREACH:
		return fmt.Errorf("frontend not connected (%w)", err)
	case zmq.Errno(syscall.EAGAIN):
		return fmt.Errorf("frontend not reading, its queue is full (%w)", err)
	}
	return err
}

func (o *owned) failQueued() {
	for {
		select {
		case m := <-o.out:
			m.done <- ErrClosed
		default:
			return
		}
	}
}
