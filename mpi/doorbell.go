package mpi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"
)

// Doorbell lets one rank wake another rank's Poller at once.
//
// MPI has no blocking wait that sleeps in the kernel: a rank waiting for a
// message must poll, and a poll that wakes every Max costs CPU (see Poller).
// A Doorbell is the cheap way round: every rank listens on a socket, and
// after sending a message the sender rings the receiver, whose goroutine
// parked on the socket (no CPU at all) wakes the Poller through Poller.Wake.
// The MPI message stays the data path; the bell carries no data, so a lost
// or spurious ring costs at most one Max of latency or one extra poll.
//
// Ranks on one host (same ProcessorName) listen on a Unix socket, and once
// a peer has proved itself there, ring through shared memory (bellPage):
// no system call while the receiver is awake, one eventfd write when it
// sleeps, and one wake-up for a burst of rings. Across hosts
// a rank listens on all interfaces and advertises its addresses (those of
// the network MPI was told to use, see networkHints), never its host name:
// compute nodes' names often resolve on a management network only.
//
// Only ranks of the job may ring: rank 0 draws a secret at start and every
// rank learns it over MPI; a connection must open with it (and the caller's
// rank) within handshakeTimeout, or it is closed. Failed handshakes are
// rate-limited, so that a stranger's flood costs a rank little CPU.
//
// Ring never waits for the network: connections are dialled in the
// background, a ring made while dialling is delivered once connected, and
// a rank that cannot be reached is retried with backoff (dialBackoff) and
// reported once through the logger. Its receiver still polls.
type Doorbell struct {
	ln      net.Listener
	network string // of ln and of every peer's: "unix" on one host, else "tcp"
	rank    int
	addrs   [][]string // by rank: addresses to dial, best first
	secret  []byte
	log     *slog.Logger
	ch      chan struct{}
	page    *bellPage     // this rank's own bell in shared memory (one host only; nil: none)
	slots   chan struct{} // bounds the handshakes in progress
	done    chan struct{} // closed by Close
	strike  strikes

	mu      sync.Mutex
	peers   map[int]*peer
	in      map[net.Conn]struct{}
	from    map[int]int // authenticated incoming connections by rank
	nfrom   int         // ranks with at least one
	closed  bool
	retired bool           // the job is ending: failed rings are dropped, not redialled
	wg      sync.WaitGroup // every goroutine
	ndial   int            // dials in progress
}

// peer is the outgoing side to one rank.
type peer struct {
	conn    net.Conn
	page    *bellPage // the rank's bell page, received over conn (nil: ring through conn)
	dialing bool
	pending bool      // a ring waits for the connection
	fails   int       // dials failed in a row
	retryAt time.Time // no dial before this
	warned  bool
}

const (
	// slot is the fixed size of one rank's entry in the address exchange.
	slot      = 256
	secretLen = 32
	// handshakeTimeout is how long a new connection has to present the
	// secret: a rank of the job sends it at once.
	handshakeTimeout = time.Second
	// dialTimeout bounds one attempt to reach one address.
	dialTimeout = 2 * time.Second
	// maxHandshakes bounds the handshakes in progress at once; more wait in
	// the listen backlog.
	maxHandshakes = 16
)

// dialBackoff is how long to wait before dialling a rank again after n
// failed attempts in a row: 100 ms, doubling, at most 30 s.
func dialBackoff(n int) time.Duration {
	d := 100 * time.Millisecond << min(n-1, 9)
	return min(d, 30*time.Second)
}

// NewDoorbell sets up a doorbell on every rank of c. It is collective over
// c (two MPI_Iallgather exchanges, waited for with a default Poller). log
// receives the doorbell's reports; nil discards them.
func NewDoorbell(c *Comm, log *slog.Logger) (*Doorbell, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mine := ProcessorName()
	if c.Rank() == 0 {
		s := make([]byte, secretLen)
		if _, err := rand.Read(s); err != nil {
			return nil, fmt.Errorf("mpi: NewDoorbell: secret: %w", err)
		}
		mine += " " + hex.EncodeToString(s)
	}
	first, err := c.allgatherStrings("NewDoorbell", mine)
	if err != nil {
		return nil, err
	}
	host0, secretHex, _ := bytes.Cut([]byte(first[0]), []byte(" "))
	first[0] = string(host0)
	secret, serr := hex.DecodeString(string(secretHex))
	local := true
	for _, h := range first {
		local = local && h == first[0]
	}
	ln, ad, lerr := listenBell(local)
	// Every rank takes part in the second exchange even if its Listen
	// failed, so that no rank is left waiting in it.
	ads, err := c.allgatherStrings("NewDoorbell", ad)
	if err == nil && lerr != nil {
		err = fmt.Errorf("mpi: NewDoorbell: %w", lerr)
	}
	if err == nil && (serr != nil || len(secret) != secretLen) {
		err = fmt.Errorf("mpi: NewDoorbell: bad secret from rank 0")
	}
	if err != nil {
		if ln != nil {
			ln.Close()
		}
		return nil, err
	}
	d := &Doorbell{ln: ln, network: ln.Addr().Network(), rank: c.Rank(), secret: secret, log: log, ch: make(chan struct{}, 1),
		slots: make(chan struct{}, maxHandshakes), done: make(chan struct{}),
		peers: map[int]*peer{}, in: map[net.Conn]struct{}{}, from: map[int]int{}}
	for _, a := range ads {
		d.addrs = append(d.addrs, dialOrder(a))
	}
	if d.network == "unix" {
		if d.page, err = newBellPage(); err != nil {
			log.Debug("doorbell: no bell page, rings go through the socket", "err", err)
			d.page = nil
		} else {
			d.wg.Add(1)
			go d.watchPage()
		}
	}
	log.Debug("doorbell listening", "rank", d.rank, "advertised", ad, "one_host", local, "page", d.page != nil)
	d.wg.Add(1)
	go d.accept()
	return d, nil
}

// listenBell opens this rank's listener and says how to reach it. On one
// host it is a Unix socket in the abstract namespace (a ring through it
// costs both sides less than one through TCP on 127.0.0.1; like 127.0.0.1
// it is reachable from this host's network namespace only), advertised by
// name ("@gompi-bell-…"). Across hosts it is TCP on every interface,
// advertised as "port addr,addr,…".
func listenBell(local bool) (net.Listener, string, error) {
	if local {
		name := make([]byte, 12)
		if _, err := rand.Read(name); err != nil {
			return nil, "-", err
		}
		addr := "@gompi-bell-" + hex.EncodeToString(name)
		ln, err := net.Listen("unix", addr)
		if err != nil {
			return nil, "-", err
		}
		return ln, addr, nil
	}
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		return nil, "-", err
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	return ln, advertise(port, localAddrs(networkHints())), nil
}

// C is the channel to put in Poller.Wake: it receives a value after this
// rank was rung (several rings may fold into one).
func (d *Doorbell) C() <-chan struct{} { return d.ch }

func (d *Doorbell) wake() {
	select {
	case d.ch <- struct{}{}:
	default: // a ring is already pending; one is enough
	}
}

// Reaches reports whether rank has an authenticated connection to this
// rank's bell, i.e. whether its rings can arrive. A receiver that is not
// reached by a rank it waits for should poll often instead.
func (d *Doorbell) Reaches(rank int) bool {
	if rank == d.rank {
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.from[rank] > 0
}

// Retire says the job is ending (the ranks were told to quit and close
// their bells): from now on a ring that fails is dropped, neither
// redialled nor reported as an unreachable rank.
func (d *Doorbell) Retire() {
	d.mu.Lock()
	d.retired = true
	d.mu.Unlock()
}

// ReachedBy is the number of other ranks with a connection to this bell.
func (d *Doorbell) ReachedBy() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.nfrom
}

// Dial connects to ranks in the background, so that their first rings do
// not wait for a connection.
func (d *Doorbell) Dial(ranks ...int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range ranks {
		if r != d.rank && r >= 0 && r < len(d.addrs) {
			d.startDial(r, d.peer(r))
		}
	}
}

// Ring wakes rank's Poller. Ring after the message's send Request has
// completed: then the message is visible to the receiver's Probe when it
// wakes (a ring ahead of its message costs the receiver a backoff cycle).
// Ring this rank to wake its own Poller. Ring does not wait for the
// network: a ring to a rank not yet connected is delivered once the
// background dial succeeds, and is dropped while the rank is unreachable.
func (d *Doorbell) Ring(rank int) error {
	if rank < 0 || rank >= len(d.addrs) {
		return fmt.Errorf("mpi: Doorbell.Ring: rank %d out of range [0,%d)", rank, len(d.addrs))
	}
	if rank == d.rank {
		d.wake()
		return nil
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return errors.New("mpi: Doorbell.Ring: closed")
	}
	p := d.peer(rank)
	if p.page != nil {
		// Under d.mu, so that Close cannot unmap the page meanwhile.
		p.page.ring()
		d.mu.Unlock()
		return nil
	}
	conn := p.conn
	if conn == nil {
		p.pending = true
		d.startDial(rank, p)
	}
	d.mu.Unlock()
	if conn == nil {
		return nil
	}
	if _, err := conn.Write([]byte{1}); err != nil {
		d.mu.Lock()
		if p.conn == conn {
			conn.Close()
			p.conn, p.pending = nil, true
			d.startDial(rank, p)
		}
		d.mu.Unlock()
		return fmt.Errorf("mpi: Doorbell.Ring %d: %w", rank, err)
	}
	return nil
}

// closeGrace is how long Close lets dials in progress deliver the rings
// that wait for them (the last command to a rank is often rung just before).
const closeGrace = 500 * time.Millisecond

// Close stops listening and closes all connections. It is not collective;
// rings to a closed Doorbell fail or are lost, which is harmless.
func (d *Doorbell) Close() error {
	for deadline := time.Now().Add(closeGrace); time.Now().Before(deadline); {
		d.mu.Lock()
		n := d.ndial
		d.mu.Unlock()
		if n == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	close(d.done)
	if d.page != nil {
		d.page.wakeOwner() // ends watchPage's sleep
	}
	err := d.ln.Close()
	for _, p := range d.peers {
		if p.conn != nil {
			p.conn.Close()
		}
	}
	for c := range d.in {
		c.Close()
	}
	d.mu.Unlock()
	d.wg.Wait()
	for _, p := range d.peers {
		if p.page != nil {
			p.page.unmap()
			p.page = nil
		}
	}
	if d.page != nil {
		d.page.unmap()
	}
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
