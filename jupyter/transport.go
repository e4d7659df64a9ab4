//go:build cgo

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

// zmqContext is a libzmq context (a stub without cgo).
type zmqContext = zmq.Context

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
