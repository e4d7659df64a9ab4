//go:build cgo

package jupyter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"
	"golang.org/x/sys/unix"
)

// zmqContext is a libzmq context (a stub without cgo).
type zmqContext = zmq.Context

// owned is one libzmq socket shared by the goroutines that use it. libzmq
// sockets are not thread-safe, but a socket may move between threads
// behind a full memory barrier: every use of sock happens under mu. Any
// goroutine sends itself (replies from the shell and control handlers,
// output from a running cell), each send DONTWAIT, so a peer that stops
// reading only loses its own messages.
//
// A socket that receives has a reader goroutine, which waits in Go's own
// poller on the socket's ZMQ_FD (libzmq's signal that the socket's state
// may have changed) and hands what arrives to the consumer through in. No
// goroutine ever blocks inside libzmq. The owner of the previous design
// sat in zmq_poll, a cgo call that kept its thread and processor, and had
// every send handed to it through an inproc wake-up socket: on rank 0 of
// the kernel, each reply cost two thread wake-ups, and the Go runtime took
// the processor back from the blocked call again and again, which kept
// its monitor thread ticking every 20 µs (bench/cellcpu.py; numbers in
// bench/README.md).
//
// ZMQ_FD is edge-triggered: it signals when commands reach the socket,
// and whoever next calls into the socket (a receive, a send, a look at
// ZMQ_EVENTS) consumes them. A send can therefore consume the signal of a
// message that has just arrived, and the reader would sleep on it. So a
// sender looks at ZMQ_EVENTS after its send and, if a message waits, pokes
// the reader (poke), as libzmq's documentation asks of anyone who
// integrates ZMQ_FD into an event loop.
type owned struct {
	ch  Channel
	log *slog.Logger

	mu     sync.Mutex  // held for every use of sock
	sock   *zmq.Socket // nil once closed
	closed bool

	receives bool          // has a reader (not the kernel's iopub PUB)
	echo     bool          // heartbeat: every message goes straight back
	in       chan [][]byte // received messages for the consumer (nil for echo)
	fd       *os.File      // a duplicate of ZMQ_FD, in Go's poller; nil if !receives
	rc       syscall.RawConn
	done     chan struct{} // closed when run has closed the socket

	// foundLate counts messages that only the reader's bounded look found
	// (a lost ZMQ_FD signal: a bug, logged as a warning); pokes counts
	// pokes, so that a poke is not taken for the wait running out.
	foundLate atomic.Int64
	pokes     atomic.Uint64
}

// ownerMode says what an owner does with its socket.
type ownerMode int

const (
	sendOnly    ownerMode = iota // the kernel's iopub PUB
	sendAndRecv                  // ROUTERs and the client's DEALERs and SUB
	echo                         // the kernel's heartbeat
)

// newOwned prepares sock for use by many goroutines. Call run in a
// goroutine to start the reader (and, for any socket, to close it once ctx
// is done).
func newOwned(_ *zmq.Context, ch Channel, sock *zmq.Socket, mode ownerMode, log *slog.Logger) (*owned, error) {
	o := &owned{
		ch:       ch,
		sock:     sock,
		log:      log,
		receives: mode != sendOnly,
		echo:     mode == echo,
		done:     make(chan struct{}),
	}
	if !o.receives {
		return o, nil
	}
	if !o.echo {
		// One slot: the reader holds at most one more message while the
		// consumer is busy (a cell runs); the rest wait in libzmq, whose
		// high-water mark then pushes back on the sender instead of our
		// memory growing.
		o.in = make(chan [][]byte, 1)
	}
	zfd, err := sock.GetFd()
	if err != nil {
		return nil, fmt.Errorf("%s socket: ZMQ_FD: %w", ch, err)
	}
	// A duplicate, so that closing the file leaves libzmq's descriptor
	// alone; it shares the open file, which is non-blocking, so os.NewFile
	// puts it in Go's poller.
	dup, err := syscall.Dup(zfd)
	if err != nil {
		return nil, fmt.Errorf("%s socket: duplicate ZMQ_FD: %w", ch, err)
	}
	syscall.CloseOnExec(dup)
	// libzmq makes its signal descriptors non-blocking; make sure, since
	// only a non-blocking descriptor goes into Go's poller.
	if err := syscall.SetNonblock(dup, true); err != nil {
		syscall.Close(dup)
		return nil, fmt.Errorf("%s socket: ZMQ_FD non-blocking: %w", ch, err)
	}
	o.fd = os.NewFile(uintptr(dup), fmt.Sprintf("zmq-%s", ch))
	if o.rc, err = o.fd.SyscallConn(); err != nil {
		o.fd.Close()
		return nil, fmt.Errorf("%s socket: ZMQ_FD: %w", ch, err)
	}
	return o, nil
}

// send sends frames without waiting for the peer, and pokes the reader if
// the send revealed a message waiting (see owned).
func (o *owned) send(frames [][]byte) error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return ErrClosed
	}
	_, err := o.sock.SendMessageDontwait(frames)
	waiting := false
	if o.receives {
		ev, eerr := o.sock.GetEvents()
		waiting = eerr == nil && ev&zmq.POLLIN != 0
	}
	o.mu.Unlock()
	if waiting {
		o.poke()
	}
	if err != nil {
		return sendError(err)
	}
	return nil
}

// poke makes the reader look at the socket again: a read deadline in the
// past ends its wait in Go's poller, or its next one before it starts.
func (o *owned) poke() {
	if o.fd != nil {
		o.pokes.Add(1)
		_ = o.fd.SetReadDeadline(time.Unix(1, 0))
	}
}

// recv returns the next message received on the socket, or false once the
// server is closing.
func (o *owned) recv(ctx context.Context) ([][]byte, bool) {
	select {
	case frames := <-o.in:
		return frames, true
	case <-ctx.Done():
		return nil, false
	case <-o.done:
		return nil, false
	}
}

// stop ends the reader (ctx must be cancelled already) and waits until the
// socket is closed. Messages still queued in libzmq drain for the socket's
// linger time while the context terminates.
func (o *owned) stop() {
	o.poke()
	<-o.done
}

// closeUnstarted closes the socket of an owner whose run never started.
func (o *owned) closeUnstarted() {
	o.sock.Close()
	if o.fd != nil {
		o.fd.Close()
	}
}

// lookEvery bounds a reader's wait for libzmq's signal: an idle socket
// costs one timer wake-up per lookEvery.
const lookEvery = time.Second

// maxBurst bounds how many messages the reader takes in a row before it
// lets other goroutines run, so that a flood of pings on the heartbeat
// costs the rest of the process little.
const maxBurst = 64

// errAgain is tryRecv's word for "nothing to receive now".
var errAgain = errors.New("nothing to receive")

// run is the reader: it receives what arrives until ctx is done, then
// closes the socket. A send-only socket only waits for ctx.
func (o *owned) run(ctx context.Context) {
	defer close(o.done)
	defer o.closeSocket()
	if !o.receives {
		<-ctx.Done()
		return
	}
	burst := 0
	lookedLate := false // the last wait ran its course with no signal pending
	for ctx.Err() == nil {
		var frames [][]byte
		var rerr error
		// The wait is bounded: should a signal ever be lost (a path
		// that consumes it and does not poke), a message waits at most
		// lookEvery instead of forever. A poke moves the deadline into
		// the past; one that comes before this line is not lost, since
		// the attempt below then finds its message.
		pokes, armed := o.pokes.Load(), time.Now()
		_ = o.fd.SetReadDeadline(armed.Add(lookEvery))
		if ctx.Err() != nil {
			return // stop's poke may have come just before the line above
		}
		// The attempt is made inside RawConn.Read, after it has armed
		// the poller: a signal that comes after the attempt found
		// nothing ends the wait; one consumed by a sender comes with a
		// poke.
		err := o.rc.Read(func(uintptr) bool {
			frames, rerr = o.tryRecv()
			if rerr == errAgain {
				// Nothing yet: what comes next comes with its signal.
				lookedLate = false
				return false
			}
			return true
		})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				// A poke, or lookEvery passed: look again. Should the
				// look find a message although the wait ran its
				// course unpoked and no signal is pending (one not
				// yet delivered on a busy machine is not lost), its
				// signal was lost.
				lookedLate = time.Since(armed) >= lookEvery && o.pokes.Load() == pokes && !o.signalPending()
				continue
			}
			o.log.Error("jupyter: wait for socket", "channel", o.ch.String(), "err", err)
			return
		}
		if rerr != nil {
			o.log.Warn("jupyter: receive failed", "channel", o.ch.String(), "err", rerr)
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		if lookedLate {
			o.foundLate.Add(1)
			o.log.Warn("jupyter: a message was found only by the periodic look; libzmq's signal for it was lost", "channel", o.ch.String())
		}
		lookedLate = false
		if burst++; burst >= maxBurst {
			burst = 0
			runtime.Gosched()
		}
		if o.echo {
			continue // tryRecv sent it back
		}
		select {
		case o.in <- frames:
		case <-ctx.Done():
			return
		}
	}
}

// tryRecv receives one message if one is there (errAgain if not). On the
// heartbeat it sends the message straight back: ROUTER without
// ROUTER_MANDATORY drops an echo for a peer whose queue is full, so a peer
// that does not read its echoes loses them and delays nobody.
func (o *owned) tryRecv() ([][]byte, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, ErrClosed
	}
	frames, err := o.sock.RecvMessageBytes(zmq.DONTWAIT)
	if err != nil {
		if zmq.AsErrno(err) == zmq.Errno(syscall.EAGAIN) {
			return nil, errAgain
		}
		return nil, err
	}
	if o.echo {
		if _, err := o.sock.SendMessageDontwait(frames); err != nil {
			o.log.Debug("jupyter: heartbeat echo failed", "err", err)
		}
	}
	return frames, nil
}

// signalPending tells whether ZMQ_FD is readable now.
func (o *owned) signalPending() bool {
	pending := false
	_ = o.rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 0)
		pending = err == nil && n > 0
	})
	return pending
}

// closeSocket closes the socket; later sends fail with ErrClosed.
func (o *owned) closeSocket() {
	o.mu.Lock()
	o.closed = true
	err := o.sock.Close()
	o.mu.Unlock()
	if err != nil {
		o.log.Warn("jupyter: close socket", "channel", o.ch.String(), "err", err)
	}
	if o.fd != nil {
		o.fd.Close()
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
