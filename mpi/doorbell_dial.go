package mpi

import (
	"encoding/binary"
	"errors"
	"net"
	"time"
)

// peer returns rank's entry. d.mu is held.
func (d *Doorbell) peer(rank int) *peer {
	p := d.peers[rank]
	if p == nil {
		p = &peer{}
		d.peers[rank] = p
	}
	return p
}

// startDial dials rank in the background unless a dial runs or the last
// failure is too recent. d.mu is held.
func (d *Doorbell) startDial(rank int, p *peer) {
	if p.conn != nil || p.dialing || d.closed || d.retired || time.Now().Before(p.retryAt) {
		return
	}
	p.dialing = true
	d.wg.Add(1)
	d.ndial++
	go d.dial(rank, p)
}

// dial tries rank's addresses in order and introduces itself with the
// secret; a ring that waited is sent at once.
func (d *Doorbell) dial(rank int, p *peer) {
	defer d.wg.Done()
	conn, page, err := d.connect(rank)
	d.mu.Lock()
	defer d.mu.Unlock()
	p.dialing = false
	d.ndial--
	if err != nil || d.closed {
		if conn != nil {
			conn.Close()
		}
		if page != nil {
			page.unmap()
		}
		if d.closed {
			return
		}
		p.fails++
		p.retryAt = time.Now().Add(dialBackoff(p.fails))
		if !p.warned {
			p.warned = true
			d.log.Warn("doorbell: cannot reach rank; it will notice commands by polling, later",
				"rank", rank, "addrs", d.addrs[rank], "err", err, "retry_in", dialBackoff(p.fails))
		} else {
			d.log.Debug("doorbell: rank still unreachable", "rank", rank, "err", err, "fails", p.fails)
		}
		return
	}
	if p.warned {
		d.log.Info("doorbell: rank reached", "rank", rank, "after_fails", p.fails)
		p.warned = false
	}
	p.conn, p.page, p.fails = conn, page, 0
	if p.pending {
		p.pending = false
		if page != nil {
			page.ring()
		} else {
			conn.Write([]byte{1})
		}
	}
}

// connect opens a connection to rank and sends the handshake; on one host
// the answer brings rank's bell page (nil if none came).
func (d *Doorbell) connect(rank int) (net.Conn, *bellPage, error) {
	if len(d.addrs[rank]) == 0 {
		return nil, nil, errors.New("no address advertised")
	}
	hello := make([]byte, secretLen+4)
	copy(hello, d.secret)
	binary.BigEndian.PutUint32(hello[secretLen:], uint32(d.rank))
	var errs []error
	for _, a := range d.addrs[rank] {
		conn, err := net.DialTimeout(d.network, a, dialTimeout)
		if err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.SetNoDelay(true)
			}
			conn.SetWriteDeadline(time.Now().Add(dialTimeout))
			_, err = conn.Write(hello)
			conn.SetWriteDeadline(time.Time{})
			if err == nil {
				var page *bellPage
				if d.network == "unix" {
					page = d.receivePage(conn)
				}
				return conn, page, nil
			}
			conn.Close()
		}
		errs = append(errs, err)
	}
	return nil, nil, errors.Join(errs...)
}
