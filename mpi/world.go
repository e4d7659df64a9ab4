package mpi

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/gompi-kernel/gompi-kernel/internal/exports"
)

// World is what cells see as package "gompi/mpi": MPI on the cells' own
// communicators, with every blocking call interruptible.
//
// A World owns two duplicates of its base communicator: one for collectives
// and point-to-point envelopes, one for large point-to-point payloads. Kernel
// traffic never shares them, so a cell's Recv(AnySource, AnyTag) cannot
// swallow a kernel message.
//
// Every blocking method starts a non-blocking MPI operation and waits for it
// with a Poller that watches the context given to Bind. On cancellation it
// returns an error wrapping the context's error (context.Canceled) at once,
// leaves the operation pending (its buffers stay pinned, MPI may still
// complete it) and marks the World dirty: the communicators now have an
// operation the other ranks may never match, so every further operation
// fails with ErrDirty until Renew replaces them on all ranks.
//
// Collectives first exchange a small header (MPI_Iallgather of type, lengths,
// root, op and "my arguments are bad" from every rank) so that every rank
// checks every rank's arguments: a wrong length or root on one rank becomes
// the same clear error on all ranks, never a hang or a memory overrun.
type World struct {
	base *Comm
	poll Poller

	mu    sync.Mutex
	comm  *Comm // collectives and point-to-point envelopes
	data  *Comm // point-to-point payloads too large to go in the envelope
	ctx   context.Context
	dirty bool
	// abandoned names the first operation abandoned since the last Renew,
	// so that the kernel can say where a stuck rank was waiting.
	abandoned string
	// inflight counts the operations running now; Quiesce waits for it to
	// reach zero. The interpreter returns from an interrupted cell at once,
	// while a compiled MPI call may take a moment more to notice.
	inflight int
	idle     *sync.Cond
}

// ErrDirty is returned (wrapped) by a World's operations after one was
// abandoned by an interrupt and before Renew.
var ErrDirty = errors.New("an earlier MPI operation was interrupted; the communicator must be renewed (World.Renew) before further use")

// cellPoller is the Poller a World waits with. OpenMPI progresses a
// non-blocking collective (libnbc) only inside MPI calls, so sleeping
// between tests stalls a large transfer between its rounds: with 2000 spins
// before the first sleep, Allreduce of 1e6 float64 on 2 ranks ran at half
// the speed of a busy wait; with 20000 spins (some tens of ms) it matches
// it. After that the sleep is capped at 1 ms, so a cell blocked for long
// (a Barrier waiting for a slow rank) costs ~1000 cheap wake-ups a second
// and notices completion within a millisecond.
var cellPoller = Poller{Spin: 20000, Min: 10 * time.Microsecond, Max: time.Millisecond}

// NewWorld creates the cells' communicators by duplicating base (collective
// over base). base itself is used again only by Renew.
func NewWorld(base *Comm) (*World, error) {
	if base == nil {
		return nil, errors.New("mpi: NewWorld: nil base communicator")
	}
	// At start every rank has made the same communicators, so the ranks
	// agree on the free context ids and the two MPI_Comm_idup may overlap
	// (DupN); Renew must not let them (see there).
	d, err := base.DupN(context.Background(), 2)
	if err != nil {
		return nil, fmt.Errorf("mpi: NewWorld: %w", err)
	}
	return NewWorldOf(base, d[0], d[1])
}

// NewWorldOf is NewWorld with the cells' two communicators made by the
// caller: duplicates of base, or of a communicator of the same group, not
// yet used. The kernel makes them with its own (Fabric: one DupN for all
// its communicators), since each round of duplicates waits for every rank:
// 0.1 s at 64 ranks on 2 cores.
func NewWorldOf(base, comm, data *Comm) (*World, error) {
	if base == nil || comm == nil || data == nil {
		return nil, errors.New("mpi: NewWorldOf: nil communicator")
	}
	if comm.Size() != base.Size() || data.Size() != base.Size() {
		return nil, fmt.Errorf("mpi: NewWorldOf: communicators of %d and %d ranks for a base of %d", comm.Size(), data.Size(), base.Size())
	}
	w := &World{base: base, comm: comm, data: data, poll: cellPoller, ctx: context.Background()}
	w.poll.Yield = Oversubscribed()
	return w, nil
}

// dupPair makes the two duplicates of base one after the other (see Renew).
func (w *World) dupPair(ctx context.Context) (*Comm, *Comm, error) {
	comm, err := w.base.DupContext(ctx, setupPoller())
	if err != nil {
		return nil, nil, err
	}
	data, err := w.base.DupContext(ctx, setupPoller())
	if err != nil {
		return nil, nil, errors.Join(err, comm.Free())
	}
	return comm, data, nil
}

// Bind sets the context that every blocking call obeys: the running cell's.
// A nil ctx means no cancellation.
func (w *World) Bind(ctx context.Context) {
	if ctx == nil {
		ctx = context.Background()
	}
	w.mu.Lock()
	w.ctx = ctx
	w.mu.Unlock()
}

// Renew replaces the cells' communicators with fresh duplicates of base and
// clears Dirty. It is collective over base: every rank must call it, dirty
// or not, e.g. after an interrupted cell. It waits with the setup Poller
// (MPI_Comm_idup), not a busy wait, and is not cancellable. Operations
// abandoned on the old communicators stay pending harmlessly.
//
// The two duplicates are made one after the other, never overlapped
// (DupN). The ranks that abandoned an operation still hold their old
// communicators (MPI frees one only once its requests are gone) while the
// others have freed theirs, so the ranks disagree on which context ids are
// free and OpenMPI (4.1) needs several rounds to agree on a new one. Two
// MPI_Comm_idup in flight at once on one parent then go wrong
// (open-mpi/ompi#2025): TestWorldRenewals (300 renewals after a Barrier
// abandoned by all ranks but one) hung or failed with MPI_ERR_TRUNCATE in
// 2 of 8 runs with them overlapped, and in a kernel over two nodes the
// workers hung in Renew while rank 0 had finished its own, once in ~40-90
// interrupted Barriers (TestMultiNode failed in CI so).
func (w *World) Renew() error {
	comm, data, err := w.dupPair(context.Background())
	if err != nil {
		return fmt.Errorf("mpi: Renew: %w", err)
	}
	w.mu.Lock()
	oldComm, oldData := w.comm, w.data
	w.comm, w.data = comm, data
	w.dirty = false
	w.abandoned = ""
	w.mu.Unlock()
	return errors.Join(oldComm.Free(), oldData.Free())
}

// Dirty reports whether an operation was abandoned since the last Renew.
func (w *World) Dirty() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dirty
}

// Abandoned names the operation (e.g. "Barrier") that was abandoned since
// the last Renew, or "" if none was.
func (w *World) Abandoned() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.abandoned
}

// Symbols returns the package as the interpreter wants it: every exported
// method of *World (except the kernel-side Bind, Renew, Dirty and Symbols)
// bound to w as a package-level function, plus the types and constants.
// New methods appear in cells without changes here.
func (w *World) Symbols() map[string]reflect.Value {
	return exports.With(exports.Methods(w, "Bind", "Renew", "Dirty", "Abandoned", "Quiesce", "Symbols"), map[string]reflect.Value{
		"Op":        reflect.ValueOf((*Op)(nil)),
		"Status":    reflect.ValueOf((*Status)(nil)),
		"Sum":       reflect.ValueOf(Sum),
		"Min":       reflect.ValueOf(Min),
		"Max":       reflect.ValueOf(Max),
		"Prod":      reflect.ValueOf(Prod),
		"AnySource": reflect.ValueOf(AnySource),
		"AnyTag":    reflect.ValueOf(AnyTag),
		"ErrDirty":  reflect.ValueOf(&ErrDirty).Elem(),
	})
}

// Rank is this rank's number in the cells' communicator (as in MPI_COMM_WORLD).
func (w *World) Rank() int { return w.base.Rank() }

// Size is the number of ranks.
func (w *World) Size() int { return w.base.Size() }

// Wtime is MPI_Wtime: seconds since an arbitrary time in the past.
func (w *World) Wtime() float64 { return Wtime() }

// op is the state of one call: the communicators and context, fixed at
// its start.
type op struct {
	w    *World
	name string
	ctx  context.Context
	comm *Comm
	data *Comm
}

func (w *World) begin(name string) (*op, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dirty {
		return nil, fmt.Errorf("mpi: %s: %w", name, ErrDirty)
	}
	if err := w.ctx.Err(); err != nil {
		return nil, fmt.Errorf("mpi: %s: %w", name, err)
	}
	w.inflight++
	return &op{w: w, name: name, ctx: w.ctx, comm: w.comm, data: w.data}, nil
}

// end marks the operation finished (deferred by every method after begin).
func (o *op) end() {
	o.w.mu.Lock()
	o.w.inflight--
	if o.w.inflight == 0 && o.w.idle != nil {
		o.w.idle.Broadcast()
	}
	o.w.mu.Unlock()
}

// Quiesce waits until no operation runs on w, or until timeout; it reports
// whether none does. The kernel calls it when a cell has ended, before it
// reads Dirty: a call abandoned on interrupt marks the World dirty only as
// it returns.
func (w *World) Quiesce(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.idle == nil {
		w.idle = sync.NewCond(&w.mu)
	}
	for w.inflight > 0 {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		// sync.Cond has no timed wait: a timer broadcasts at the deadline.
		t := time.AfterFunc(left, func() {
			w.mu.Lock()
			w.idle.Broadcast()
			w.mu.Unlock()
		})
		w.idle.Wait()
		t.Stop()
	}
	return true
}

// wait completes r or abandons it on cancellation (marking the World dirty).
func (o *op) wait(r *Request) error {
	err := o.w.poll.Wait(o.ctx, r.Test)
	if err == nil {
		return nil
	}
	if o.ctx.Err() != nil && errors.Is(err, o.ctx.Err()) {
		o.w.mu.Lock()
		o.w.dirty = true
		if o.w.abandoned == "" {
			o.w.abandoned = o.name
		}
		o.w.mu.Unlock()
		return fmt.Errorf("mpi: %s: interrupted: %w", o.name, err)
	}
	return fmt.Errorf("mpi: %s: %w", o.name, err)
}

// waitAll completes all of rs (in order).
func (o *op) waitAll(rs ...*Request) error {
	for _, r := range rs {
		if r == nil {
			continue
		}
		if err := o.wait(r); err != nil {
			return err
		}
	}
	return nil
}

func (o *op) errorf(format string, args ...any) error {
	return fmt.Errorf("mpi: %s: "+format, append([]any{o.name}, args...)...)
}

func (o *op) wrap(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("mpi: %s: %w", o.name, err)
}

// Barrier waits until every rank has called Barrier (MPI_Ibarrier).
func (w *World) Barrier() error {
	o, err := w.begin("Barrier")
	if err != nil {
		return err
	}
	defer o.end()
	r, err := o.comm.Ibarrier()
	if err != nil {
		return o.wrap(err)
	}
	return o.wait(r)
}

// listRanks formats per-rank values for error messages, e.g.
// "rank 0: 10, rank 1: 8" (long lists are shortened).
func listRanks[T any](vals []T) string {
	var b strings.Builder
	for i, v := range vals {
		if i == 12 && len(vals) > 14 {
			fmt.Fprintf(&b, ", … (%d ranks)", len(vals))
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "rank %d: %v", i, v)
	}
	return b.String()
}
