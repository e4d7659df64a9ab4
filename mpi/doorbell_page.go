//go:build linux

package mpi

import (
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// bellPage is a rank's doorbell in shared memory, for ranks on its host: a
// ring count that a ringer bumps, a flag saying whether the owner sleeps,
// and an eventfd the owner sleeps on. A ring costs the ringer an atomic
// add, plus one eventfd write only when the owner sleeps; the owner wakes
// once for any number of rings that came while it slept. Through the Unix
// socket, each ring was a write by the ringer and a read by the owner,
// whether the owner slept or not: rank 0 wrote one per worker for each
// command and read one per done report, 27 % of its CPU per trivial cell
// at 16 ranks.
//
// The owner sleeps on the eventfd in Go's poller, so a sleeping owner
// holds no thread. (A goroutine blocked in FUTEX_WAIT did, and every
// wake-up then cost the runtime a processor hand-off: workers used 25 %
// more CPU per trivial cell that way.)
//
// The page (a memfd) and the eventfd are passed to a peer over its
// authenticated doorbell connection (SCM_RIGHTS), so only ranks of the job
// that proved the secret can ring through them, and no file is left
// anywhere when the job ends.
type bellPage struct {
	mem []byte
	fd  int // the memfd of this rank's own page; -1 for a peer's
	efd int // the eventfd the owner sleeps on (for a peer's page, a copy)

	// The owner's efd in Go's poller (nil for a peer's page).
	ef *os.File
	rc syscall.RawConn
}

const bellPageSize = 4096

// The ring count and the sleeper flag, each on its own cache line.
func (p *bellPage) seq() *atomic.Uint32 { return (*atomic.Uint32)(unsafe.Pointer(&p.mem[0])) }
func (p *bellPage) sleeping() *atomic.Uint32 {
	return (*atomic.Uint32)(unsafe.Pointer(&p.mem[64]))
}

// newBellPage makes this rank's own page.
func newBellPage() (*bellPage, error) {
	fd, err := unix.MemfdCreate("gompi-bell", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	if err := unix.Ftruncate(fd, bellPageSize); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("ftruncate: %w", err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	p, err := mapBellPage(fd, -1)
	if err != nil {
		unix.Close(fd)
		unix.Close(efd)
		return nil, err
	}
	p.fd = fd
	p.ef = os.NewFile(uintptr(efd), "gompi-bell")
	p.efd = efd
	if p.rc, err = p.ef.SyscallConn(); err != nil {
		p.unmap()
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	return p, nil
}

// mapBellPage maps a page whose memfd arrived from its owner (the caller
// may close fd afterwards); efd is the owner's eventfd, kept until unmap.
func mapBellPage(fd, efd int) (*bellPage, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("fstat: %w", err)
	}
	if st.Size != bellPageSize {
		return nil, fmt.Errorf("bell page of %d bytes, want %d", st.Size, bellPageSize)
	}
	mem, err := unix.Mmap(fd, 0, bellPageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap: %w", err)
	}
	return &bellPage{mem: mem, fd: -1, efd: efd}, nil
}

// ring wakes the page's owner. Sequentially consistent atomics on both
// sides (the owner sets sleeping, then reads seq; a ringer adds to seq,
// then reads sleeping) make sure that a ring is never missed: either the
// owner sees the new seq and does not sleep, or the ringer sees it asleep
// and writes its eventfd.
func (p *bellPage) ring() {
	p.seq().Add(1)
	if p.sleeping().Load() != 0 {
		one := [8]byte{1}
		unix.Write(p.efd, one[:])
	}
}

// sleep waits in Go's poller until the eventfd is written, unless seq has
// moved from seen; false once the eventfd is closed (wakeOwner).
func (p *bellPage) sleep(seen uint32) bool {
	p.sleeping().Store(1)
	defer p.sleeping().Store(0)
	if p.seq().Load() != seen {
		return true
	}
	var buf [8]byte
	err := p.rc.Read(func(fd uintptr) bool {
		_, err := unix.Read(int(fd), buf[:])
		return err != unix.EAGAIN
	})
	return err == nil
}

// wakeOwner ends the owner's sleep for good: Close.
func (p *bellPage) wakeOwner() { p.ef.Close() }

// unmap releases the page and its descriptors.
func (p *bellPage) unmap() {
	unix.Munmap(p.mem)
	if p.fd >= 0 {
		unix.Close(p.fd)
	}
	if p.ef != nil {
		p.ef.Close()
	} else if p.efd >= 0 {
		unix.Close(p.efd)
	}
}

// sendPage gives a peer that passed the handshake this rank's page and
// eventfd, in a one-byte message; without a page the byte comes alone and
// the peer rings through the socket.
func (d *Doorbell) sendPage(conn net.Conn) {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return
	}
	var oob []byte
	if d.page != nil {
		oob = unix.UnixRights(d.page.fd, d.page.efd)
	}
	uc.SetWriteDeadline(time.Now().Add(handshakeTimeout))
	if _, _, err := uc.WriteMsgUnix([]byte{0}, oob, nil); err != nil {
		d.log.Debug("doorbell: sending the bell page", "err", err)
	}
	uc.SetWriteDeadline(time.Time{})
}

// receivePage reads the answer to a handshake on a Unix connection: the
// peer's page, or nil where it sent none (or none arrived in time).
func (d *Doorbell) receivePage(conn net.Conn) *bellPage {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return nil
	}
	uc.SetReadDeadline(time.Now().Add(handshakeTimeout))
	defer uc.SetReadDeadline(time.Time{})
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(2*4))
	_, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
	if err != nil {
		d.log.Debug("doorbell: no bell page from peer", "err", err)
		return nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) == 0 {
		return nil
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil {
		return nil
	}
	if len(fds) != 2 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil
	}
	page, err := mapBellPage(fds[0], fds[1])
	unix.Close(fds[0])
	if err != nil {
		d.log.Debug("doorbell: peer's bell page", "err", err)
		unix.Close(fds[1])
		return nil
	}
	return page
}

// watchPage turns rings on this rank's own page into wake-ups until the
// doorbell closes.
func (d *Doorbell) watchPage() {
	defer d.wg.Done()
	seen := d.page.seq().Load()
	for {
		if s := d.page.seq().Load(); s != seen {
			seen = s
			d.wake()
			continue
		}
		select {
		case <-d.done:
			return
		default:
		}
		if !d.page.sleep(seen) {
			return // closed
		}
	}
}
