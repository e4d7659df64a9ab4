package mpi

import (
	"crypto/subtle"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"time"
)

// maxStrikes is how many failed handshakes per second the doorbell
// answers; beyond that it stops accepting until the second is over, and
// the connections wait in the kernel's backlog at no cost to the rank.
const maxStrikes = 20

// strikes counts failed handshakes in the current second.
type strikes struct {
	mu    sync.Mutex
	start time.Time
	n     int
}

func (s *strikes) add() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now := time.Now(); now.Sub(s.start) >= time.Second {
		s.start, s.n = now, 0
	}
	s.n++
}

// pause is how long to stop accepting: until the second ends if it had
// maxStrikes failures.
func (s *strikes) pause() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n < maxStrikes {
		return 0
	}
	return time.Until(s.start.Add(time.Second))
}

// accept takes connections, at most maxHandshakes unproven at a time.
func (d *Doorbell) accept() {
	defer d.wg.Done()
	for {
		if p := d.strike.pause(); p > 0 {
			select {
			case <-time.After(p):
			case <-d.done:
				return
			}
		}
		select {
		case d.slots <- struct{}{}:
		case <-d.done:
			return
		}
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
		go d.serve(conn)
	}
}

// serve checks a connection's handshake, then turns what arrives on it into
// wake-ups until it closes.
func (d *Doorbell) serve(conn net.Conn) {
	defer d.wg.Done()
	defer func() {
		d.mu.Lock()
		delete(d.in, conn)
		d.mu.Unlock()
		conn.Close()
	}()
	rank, ok := d.handshake(conn)
	<-d.slots
	if !ok {
		d.strike.add()
		return
	}
	if d.network == "unix" {
		d.sendPage(conn)
	}
	d.mu.Lock()
	if d.from[rank]++; d.from[rank] == 1 {
		d.nfrom++
	}
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		if d.from[rank]--; d.from[rank] == 0 {
			d.nfrom--
		}
		d.mu.Unlock()
	}()
	buf := make([]byte, 64)
	for {
		if _, err := conn.Read(buf); err != nil {
			return
		}
		d.wake()
	}
}

// handshake reads the secret and the caller's rank, which must come within
// handshakeTimeout.
func (d *Doorbell) handshake(conn net.Conn) (int, bool) {
	conn.SetReadDeadline(time.Now().Add(handshakeTimeout))
	buf := make([]byte, secretLen+4)
	if _, err := io.ReadFull(conn, buf); err != nil {
		return 0, false
	}
	if subtle.ConstantTimeCompare(buf[:secretLen], d.secret) != 1 {
		return 0, false
	}
	rank := int(binary.BigEndian.Uint32(buf[secretLen:]))
	if rank < 0 || rank >= len(d.addrs) {
		return 0, false
	}
	conn.SetReadDeadline(time.Time{})
	return rank, true
}
