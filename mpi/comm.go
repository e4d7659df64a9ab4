package mpi

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// Comm is an MPI communicator. Its rank and size are read once, at creation.
type Comm struct {
	h     cComm
	rank  int
	size  int
	owned bool // created by Dup (may be freed); MPI_COMM_WORLD is not

	mu    sync.Mutex
	freed bool
}

func newComm(h cComm, owned bool) (*Comm, error) {
	proc.lock()
	defer proc.unlock()
	r, err := cCommRank(h)
	if err != nil {
		return nil, err
	}
	s, err := cCommSize(h)
	if err != nil {
		return nil, err
	}
	return &Comm{h: h, rank: r, size: s, owned: owned}, nil
}

// Rank is this process's rank in c.
func (c *Comm) Rank() int { return c.rank }

// Size is the number of ranks in c.
func (c *Comm) Size() int { return c.size }

func (c *Comm) handle(what string) (cComm, error) {
	if c == nil {
		return cCommNull(), fmt.Errorf("mpi: %s: nil communicator", what)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.freed {
		return cCommNull(), fmt.Errorf("mpi: %s: communicator already freed", what)
	}
	if !initialised() {
		return cCommNull(), fmt.Errorf("mpi: %s: %w", what, ErrNotInitialized)
	}
	return c.h, nil
}

// LocalSize is the number of c's ranks that run on this node (share its
// memory: MPI_Comm_split_type with MPI_COMM_TYPE_SHARED). Collective over c.
// Where MPI is up this is better than the launcher's variables (LocalSize
// in launcher.go): it holds for any MPI and launcher. MPI_Comm_split_type
// has no non-blocking form, so it waits as MPI does; call it at start-up,
// when every rank gets there together.
func (c *Comm) LocalSize() (int, error) {
	h, err := c.handle("LocalSize")
	if err != nil {
		return 0, err
	}
	proc.lock()
	defer proc.unlock()
	return cLocalSize(h)
}

// Dup duplicates c (collective over c). It waits with a default Poller
// instead of MPI_Comm_dup's busy wait, so a rank that reaches Dup early does
// not burn a core while the others arrive.
func (c *Comm) Dup() (*Comm, error) {
	return c.DupContext(context.Background(), setupPoller())
}

// DupN makes n duplicates of c at once (collective over c): all n
// MPI_Comm_idup are started before any is waited for, so that their
// rounds overlap. At start-up, where 64 ranks share a few cores and each
// round of a collective waits for every rank to be scheduled, six
// duplicates one after another cost ~0.1 s. Use it only where every rank
// has made the same communicators so far (start-up): where the ranks
// disagree on the free context ids, overlapped duplicates hang or mix up
// messages in OpenMPI (see World.Renew).
func (c *Comm) DupN(ctx context.Context, n int) ([]*Comm, error) {
	h, err := c.handle("Dup")
	if err != nil {
		return nil, err
	}
	type pending struct {
		out *cComm
		r   *Request
	}
	ps := make([]pending, 0, n)
	for range n {
		proc.lock()
		out, rh, err := cCommIdup(h)
		proc.unlock()
		if err != nil {
			// The idups already started are abandoned with their
			// handles: the job cannot go on without them anyway.
			return nil, err
		}
		ps = append(ps, pending{out, newRequest(rh, nil)})
	}
	p := setupPoller()
	comms := make([]*Comm, 0, n)
	for _, q := range ps {
		if err := q.r.Wait(ctx, p); err != nil {
			return nil, fmt.Errorf("mpi: Dup: %w", err)
		}
		nh, err := cCommIdupResult(q.out)
		if err != nil {
			return nil, err
		}
		d, err := newComm(nh, true)
		if err != nil {
			return nil, err
		}
		comms = append(comms, d)
	}
	return comms, nil
}

// DupContext is Dup with a context and a Poller (nil for the default).
// When ctx is cancelled the pending MPI_Comm_idup is abandoned and
// ctx.Err() returned, wrapped.
func (c *Comm) DupContext(ctx context.Context, p *Poller) (*Comm, error) {
	h, err := c.handle("Dup")
	if err != nil {
		return nil, err
	}
	proc.lock()
	out, rh, err := cCommIdup(h)
	proc.unlock()
	if err != nil {
		return nil, err
	}
	r := newRequest(rh, nil)
	if err := r.Wait(ctx, p); err != nil {
		// out stays allocated: MPI may still write the handle into it.
		return nil, fmt.Errorf("mpi: Dup: %w", err)
	}
	nh, err := cCommIdupResult(out)
	if err != nil {
		return nil, err
	}
	return newComm(nh, true)
}

// Free releases a communicator made by Dup (MPI_Comm_free). Operations still
// pending on it (abandoned ones) complete or linger without harm: MPI frees
// the communicator only when they are gone.
func (c *Comm) Free() error {
	if c == nil {
		return errors.New("mpi: Free: nil communicator")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.owned {
		return errors.New("mpi: Free: MPI_COMM_WORLD cannot be freed")
	}
	if c.freed {
		return nil
	}
	if !initialised() {
		return fmt.Errorf("mpi: Free: %w", ErrNotInitialized)
	}
	proc.lock()
	err := cCommFree(c.h)
	proc.unlock()
	c.freed = true
	return err
}

func (c *Comm) checkRank(what, role string, r int, wildcard bool) error {
	if wildcard && r == AnySource {
		return nil
	}
	if r < 0 || r >= c.size {
		return fmt.Errorf("mpi: %s: %s %d out of range [0,%d)", what, role, r, c.size)
	}
	return nil
}

// maxTag is the largest tag the package accepts. MPI guarantees at least
// 32767 (MPI_TAG_UB); OpenMPI allows 2^31-1.
const maxTag = 1<<31 - 1

func checkTag(what string, tag int, wildcard bool) error {
	if wildcard && tag == AnyTag {
		return nil
	}
	if tag < 0 || tag > maxTag {
		return fmt.Errorf("mpi: %s: tag %d out of range [0,%d]", what, tag, maxTag)
	}
	return nil
}

func bytesBuffer(b []byte) buffer {
	if len(b) == 0 {
		return buffer{t: tByte}
	}
	return buffer{p: unsafe.Pointer(&b[0]), n: len(b), t: tByte}
}

// Isend starts sending buf to rank dest. buf is pinned, not copied: do not
// modify it until the Request is done.
func (c *Comm) Isend(buf []byte, dest, tag int) (*Request, error) {
	h, err := c.handle("Isend")
	if err != nil {
		return nil, err
	}
	if err := c.checkRank("Isend", "dest", dest, false); err != nil {
		return nil, err
	}
	if err := checkTag("Isend", tag, false); err != nil {
		return nil, err
	}
	if err := checkCount("Isend", len(buf)); err != nil {
		return nil, err
	}
	return startRequest(func() (cRequest, error) { return cIsend(bytesBuffer(buf), dest, tag, h) }, bytesBuffer(buf))
}

// Ibcast starts broadcasting buf from root to every rank of c (in place;
// every rank must pass the same length). buf is pinned until done.
func (c *Comm) Ibcast(buf []byte, root int) (*Request, error) {
	h, err := c.handle("Ibcast")
	if err != nil {
		return nil, err
	}
	if err := c.checkRank("Ibcast", "root", root, false); err != nil {
		return nil, err
	}
	if err := checkCount("Ibcast", len(buf)); err != nil {
		return nil, err
	}
	return startRequest(func() (cRequest, error) { return cIbcast(bytesBuffer(buf), root, h) }, bytesBuffer(buf))
}

// Ibarrier starts a barrier over c.
func (c *Comm) Ibarrier() (*Request, error) {
	h, err := c.handle("Ibarrier")
	if err != nil {
		return nil, err
	}
	return startRequest(func() (cRequest, error) { return cIbarrier(h) })
}

// Incoming is a message matched by Probe and not yet received. It must be
// received (Recv): MPI has taken it off the queue for us.
type Incoming struct {
	m        cMessage
	source   int
	tag      int
	size     int
	received bool
}

// Probe looks for a message from source with tag (AnySource/AnyTag allowed)
// without blocking (MPI_Improbe). When one has arrived it is matched —
// no other Probe or receive can take it — and returned with ok true.
func (c *Comm) Probe(source, tag int) (*Incoming, bool, error) {
	h, err := c.handle("Probe")
	if err != nil {
		return nil, false, err
	}
	if err := c.checkRank("Probe", "source", source, true); err != nil {
		return nil, false, err
	}
	if err := checkTag("Probe", tag, true); err != nil {
		return nil, false, err
	}
	proc.lock()
	ok, m, s, t, n, err := cImprobe(source, tag, h)
	proc.unlock()
	if err != nil || !ok {
		return nil, false, err
	}
	return &Incoming{m: m, source: s, tag: t, size: n}, true, nil
}

// Size is the message's length in bytes.
func (m *Incoming) Size() int { return m.size }

// Source is the sender's rank.
func (m *Incoming) Source() int { return m.source }

// Tag is the message's tag.
func (m *Incoming) Tag() int { return m.tag }

// Recv receives the matched message (MPI_Mrecv) into a new slice. The
// message has arrived, so this does not wait for a sender.
func (m *Incoming) Recv() (data []byte, source, tag int, err error) {
	if m.received {
		return nil, m.source, m.tag, errors.New("mpi: Incoming.Recv: message already received")
	}
	data = make([]byte, m.size)
	proc.lock()
	err = cMrecv(data, &m.m)
	proc.unlock()
	m.received = true
	if err != nil {
		return nil, m.source, m.tag, err
	}
	return data, m.source, m.tag, nil
}

// Request is a pending non-blocking operation. While it is pending it keeps
// the Go buffers MPI works on pinned (runtime.Pinner) and is itself kept
// reachable by the package, so that an abandoned Request (an interrupted
// collective) can never let the garbage collector move or free memory MPI
// may still write to. The pins are released when Test sees it complete.
type Request struct {
	mu    sync.Mutex
	h     cRequest
	pin   runtime.Pinner
	done  bool
	err   error
	src   int
	tag   int
	count int
	then  func() error // run once on completion, before the pins are released
}

// startRequest pins bufs, starts the operation and registers the Request.
func startRequest(start func() (cRequest, error), bufs ...buffer) (*Request, error) {
	r := &Request{}
	for _, b := range bufs {
		b.pin(&r.pin)
	}
	proc.lock()
	h, err := start()
	proc.unlock()
	if err != nil {
		r.pin.Unpin()
		return nil, err
	}
	r.h = h
	proc.track(r)
	return r, nil
}

func newRequest(h cRequest, then func() error) *Request {
	r := &Request{h: h, then: then}
	proc.track(r)
	return r
}

// Test reports whether the operation has completed, without blocking
// (MPI_Test). Once it has reported true, it keeps returning true (and the
// same error) without calling MPI again.
func (r *Request) Test() (done bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return true, r.err
	}
	proc.lock()
	done, src, tag, count, err := cTest(&r.h)
	proc.unlock()
	if !done && err == nil {
		return false, nil
	}
	r.done = true
	r.err = err
	r.src, r.tag, r.count = src, tag, count
	if err == nil && r.then != nil {
		r.err = r.then()
	}
	r.pin.Unpin()
	proc.untrack(r)
	return true, r.err
}

// Wait polls r with p (nil: the default Poller) until it completes or ctx is
// done. On cancellation the operation stays pending; the Request remains
// valid and can be tested or waited for again.
func (r *Request) Wait(ctx context.Context, p *Poller) error {
	return p.Wait(ctx, r.Test)
}

// status returns source, tag and byte count of a completed receive.
func (r *Request) status() (src, tag, count int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.src, r.tag, r.count
}

// start begins a non-blocking operation on c with bufs pinned.
func (c *Comm) start(what string, f func(h cComm) (cRequest, error), bufs ...buffer) (*Request, error) {
	h, err := c.handle(what)
	if err != nil {
		return nil, err
	}
	for _, b := range bufs {
		if err := checkCount(what, b.n); err != nil {
			return nil, err
		}
	}
	return startRequest(func() (cRequest, error) { return f(h) }, bufs...)
}
