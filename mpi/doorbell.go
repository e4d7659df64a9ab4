package mpi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// Doorbell lets one rank wake another rank's Poller at once.
//
// MPI has no blocking wait that sleeps in the kernel: a rank waiting for a
// message must poll, and a poll that wakes every Max costs CPU (see Poller).
// A Doorbell is the cheap way round: every rank listens on a TCP socket, and
// after sending a message the sender rings the receiver, whose goroutine
// parked on the socket (no CPU at all) wakes the Poller through Poller.Wake.
// The MPI message stays the data path; the bell carries no data, so a lost
// or spurious ring costs at most one Max of latency or one extra poll. The
// listening port accepts anyone's connection for that reason: all a stranger
// can do is cause a wasted poll.
//
// Ranks on one host (same ProcessorName) listen on 127.0.0.1; otherwise on
// all interfaces, advertised by processor name.
type Doorbell struct {
	ln    net.Listener
	addrs []string // by rank
	ch    chan struct{}

	mu     sync.Mutex
	conns  map[int]net.Conn // outgoing, dialled on first Ring
	in     map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// slot is the fixed size of one rank's entry in the address exchange.
const slot = 256

// NewDoorbell sets up a doorbell on every rank of c. It is collective over
// c (two MPI_Iallgather exchanges of names and ports, waited for with a
// default Poller).
func NewDoorbell(c *Comm) (*Doorbell, error) {
	hosts, err := c.allgatherStrings("NewDoorbell", ProcessorName())
	if err != nil {
		return nil, err
	}
	local := true
	for _, h := range hosts {
		local = local && h == hosts[0]
	}
	listen := "127.0.0.1:0"
	if !local {
		listen = ":0"
	}
	ln, lerr := net.Listen("tcp", listen)
	port := "-"
	if lerr == nil {
		port = strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	}
	// Every rank takes part in the second exchange even if its Listen
	// failed, so that no rank is left waiting in it.
	ports, err := c.allgatherStrings("NewDoorbell", port)
	if err != nil {
		if ln != nil {
			ln.Close()
		}
		return nil, err
	}
	if lerr != nil {
		return nil, fmt.Errorf("mpi: NewDoorbell: %w", lerr)
	}
	d := &Doorbell{ln: ln, ch: make(chan struct{}, 1), conns: map[int]net.Conn{}, in: map[net.Conn]struct{}{}}
	for r := range hosts {
		host := hosts[r]
		if local {
			host = "127.0.0.1"
		}
		d.addrs = append(d.addrs, net.JoinHostPort(host, ports[r]))
	}
	d.wg.Add(1)
	go d.accept()
	return d, nil
}

func (d *Doorbell) accept() {
	defer d.wg.Done()
	for {
		conn, err := d.ln.Accept()
		if err != nil {
			return // closed
		}
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			conn.Close()
			return
		}
		d.in[conn] = struct{}{}
		d.wg.Add(1)
		d.mu.Unlock()
		go d.listen(conn)
	}
}

func (d *Doorbell) listen(conn net.Conn) {
	defer d.wg.Done()
	buf := make([]byte, 64)
	for {
		if _, err := conn.Read(buf); err != nil {
			d.mu.Lock()
			delete(d.in, conn)
			d.mu.Unlock()
			conn.Close()
			return
		}
		select {
		case d.ch <- struct{}{}:
		default: // a ring is already pending; one is enough
		}
	}
}

// C is the channel to put in Poller.Wake: it receives a value after this
// rank was rung (several rings may fold into one).
func (d *Doorbell) C() <-chan struct{} { return d.ch }

// Ring wakes rank's Poller. Ring after the message's send Request has
// completed: then the message is visible to the receiver's Probe when it
// wakes (a ring ahead of its message costs the receiver a backoff cycle). Ring this rank to wake its own Poller. The
// first Ring of a rank opens a connection to it, later ones reuse it.
func (d *Doorbell) Ring(rank int) error {
	if rank < 0 || rank >= len(d.addrs) {
		return fmt.Errorf("mpi: Doorbell.Ring: rank %d out of range [0,%d)", rank, len(d.addrs))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errors.New("mpi: Doorbell.Ring: closed")
	}
	for attempt := 0; ; attempt++ {
		conn := d.conns[rank]
		if conn == nil {
			var err error
			conn, err = net.DialTimeout("tcp", d.addrs[rank], 5*time.Second)
			if err != nil {
				return fmt.Errorf("mpi: Doorbell.Ring %d: %w", rank, err)
			}
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.SetNoDelay(true)
			}
			d.conns[rank] = conn
		}
		_, err := conn.Write([]byte{1})
		if err == nil {
			return nil
		}
		conn.Close()
		delete(d.conns, rank)
		if attempt > 0 {
			return fmt.Errorf("mpi: Doorbell.Ring %d: %w", rank, err)
		}
	}
}

// Close stops listening and closes all connections. It is not collective;
// rings to a closed Doorbell fail or are lost, which is harmless.
func (d *Doorbell) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	err := d.ln.Close()
	for _, c := range d.conns {
		c.Close()
	}
	for c := range d.in {
		c.Close()
	}
	d.mu.Unlock()
	d.wg.Wait()
	return err
}

// allgatherStrings exchanges one short string per rank (MPI_Iallgather of
// fixed slots, waited for with a default Poller).
func (c *Comm) allgatherStrings(what, s string) ([]string, error) {
	if len(s) >= slot {
		return nil, fmt.Errorf("mpi: %s: %q longer than %d bytes", what, s, slot-1)
	}
	h, err := c.handle(what)
	if err != nil {
		return nil, err
	}
	send := make([]byte, slot)
	copy(send, s)
	recv := make([]byte, slot*c.size)
	sb, rb := bytesBuffer(send), bytesBuffer(recv)
	r, err := startRequest(func() (cRequest, error) { return cIallgather(sb, rb, slot, h) }, sb, rb)
	if err != nil {
		return nil, fmt.Errorf("mpi: %s: %w", what, err)
	}
	if err := r.Wait(context.Background(), setupPoller()); err != nil {
		return nil, fmt.Errorf("mpi: %s: %w", what, err)
	}
	out := make([]string, c.size)
	for i := range out {
		b := recv[i*slot : (i+1)*slot]
		if j := bytes.IndexByte(b, 0); j >= 0 {
			b = b[:j]
		}
		out[i] = string(b)
	}
	return out, nil
}

var _ io.Closer = (*Doorbell)(nil)
