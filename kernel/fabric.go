package kernel

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gompi-kernel/gompi-kernel/mpi"
)

// Message tags on the kernel's communicators. Each communicator carries one
// kind of traffic, so the tags only guard against mistakes.
const (
	tagEvent     = 1
	tagInterrupt = 2
	tagCommand   = 3
)

// Fabric is the kernel's own MPI traffic, kept apart from anything a cell
// does: every communicator here is a duplicate of MPI_COMM_WORLD that user
// code never sees, so a cell's Recv(AnySource) cannot swallow a kernel
// message and a kernel probe cannot steal a cell's.
type Fabric struct {
	world *mpi.Comm
	cmd   *mpi.Comm // rank 0 → workers: commands
	up    *mpi.Comm // workers → rank 0: output and results
	intr  *mpi.Comm // rank 0 → workers: interrupts, point to point
	cells *mpi.Comm // the base from which the cells' World is made

	rank, size int

	// bell wakes a resting rank the moment something was sent to it, so
	// that an idle rank can sleep long between polls (OpenMPI's own waits
	// busy-poll a whole core) and still answer at once.
	bell *mpi.Doorbell

	// idle sleeps long between polls and relies on the bell; busy polls
	// often (a cell is running: latency matters more than a few wake-ups).
	idle, busy mpi.Poller

	sendMu sync.Mutex // keeps one rank's events in the order they were posted
}

// NewFabric duplicates MPI_COMM_WORLD for each kind of kernel traffic. It is
// collective: every rank calls it at start, in the same order.
func NewFabric() (*Fabric, error) {
	world := mpi.WorldComm()
	f := &Fabric{
		world: world,
		rank:  world.Rank(),
		size:  world.Size(),
	}
	for _, c := range []**mpi.Comm{&f.cmd, &f.up, &f.intr, &f.cells} {
		d, err := world.Dup()
		if err != nil {
			return nil, fmt.Errorf("duplicate MPI_COMM_WORLD: %w", err)
		}
		*c = d
	}
	bell, err := mpi.NewDoorbell(f.world)
	if err != nil {
		return nil, fmt.Errorf("doorbell: %w", err)
	}
	f.bell = bell
	f.idle = mpi.Poller{Spin: 50, Min: 50 * time.Microsecond, Max: mpi.IdleMax, Wake: bell.C()}
	// Only one goroutine may consume the bell, or a ring meant for the
	// resting receiver is eaten by a short wait elsewhere: on rank 0 the
	// idle poller belongs to the event receiver, on a worker to the command
	// loop. The busy poller sleeps at most a millisecond and needs no bell.
	f.busy = mpi.Poller{Spin: 200, Min: 20 * time.Microsecond, Max: time.Millisecond}
	return f, nil
}

// Close releases the doorbell.
func (f *Fabric) Close() error {
	return f.bell.Close()
}

// ring wakes the given ranks after something was sent to them. A failed
// ring costs only latency (the receiver still polls every IdleMax).
func (f *Fabric) ring(ranks ...int) {
	for _, r := range ranks {
		if err := f.bell.Ring(r); err != nil {
			slog.Default().Debug("doorbell", "rank", r, "err", err)
		}
	}
}

func (f *Fabric) workers() []int {
	w := make([]int, 0, f.size-1)
	for r := 1; r < f.size; r++ {
		w = append(w, r)
	}
	return w
}

// Rank is this process's rank in MPI_COMM_WORLD.
func (f *Fabric) Rank() int { return f.rank }

// Size is the number of ranks.
func (f *Fabric) Size() int { return f.size }

// CellBase is the communicator from which the cells' World is duplicated.
func (f *Fabric) CellBase() *mpi.Comm { return f.cells }

// wait polls a request until it completes or ctx ends.
func wait(ctx context.Context, p *mpi.Poller, r *mpi.Request) error {
	return p.Wait(ctx, r.Test)
}

// Broadcast sends a command from rank 0 to every worker: one eager
// point-to-point message each, then a ring of each worker's doorbell.
//
// Not MPI_Ibcast, which was measured first: a broadcast tree advances only
// while the ranks inside it poll, and on an oversubscribed node (16 ranks on
// 2 cores) the inner ranks are often descheduled, which made a trivial cell
// take 24 ms at 16 ranks. With direct sends each worker needs only itself to
// run; posting N-1 small sends costs microseconds on rank 0.
func (f *Fabric) Broadcast(ctx context.Context, c command) error {
	return f.SendCommand(ctx, f.workers(), c)
}

// SendCommand sends a command from rank 0 to the given workers.
func (f *Fabric) SendCommand(ctx context.Context, to []int, c command) error {
	if len(to) == 0 {
		return nil
	}
	body, err := encode(c)
	if err != nil {
		return err
	}
	reqs := make([]*mpi.Request, 0, len(to))
	for _, w := range to {
		r, err := f.cmd.Isend(body, w, tagCommand)
		if err != nil {
			return fmt.Errorf("send %v to rank %d: %w", c.Kind, w, err)
		}
		reqs = append(reqs, r)
	}
	f.ring(to...)
	for _, r := range reqs {
		if err := wait(ctx, &f.busy, r); err != nil {
			return fmt.Errorf("send %v: %w", c.Kind, err)
		}
	}
	return nil
}

// TryCommand returns rank 0's next command if one has arrived. Workers only.
func (f *Fabric) TryCommand() (command, bool, error) {
	m, ok, err := f.cmd.Probe(0, tagCommand)
	if err != nil || !ok {
		return command{}, false, err
	}
	body, _, _, err := m.Recv()
	if err != nil {
		return command{}, false, fmt.Errorf("receive command: %w", err)
	}
	c, err := decode[command](body)
	return c, err == nil, err
}

// NextCommand waits, resting, for rank 0's next command. Workers only.
func (f *Fabric) NextCommand(ctx context.Context) (command, error) {
	var in *mpi.Incoming
	err := f.idle.Wait(ctx, func() (bool, error) {
		m, ok, err := f.cmd.Probe(0, tagCommand)
		if ok {
			in = m
		}
		return ok, err
	})
	if err != nil {
		return command{}, fmt.Errorf("wait for command: %w", err)
	}
	body, _, _, err := in.Recv()
	if err != nil {
		return command{}, fmt.Errorf("receive command: %w", err)
	}
	return decode[command](body)
}

// Send reports an event from a worker to rank 0. It returns once MPI is done
// with the buffer; that is also what gives large output its back-pressure.
func (f *Fabric) Send(ctx context.Context, e event) error {
	b, err := encode(e)
	if err != nil {
		return err
	}
	f.sendMu.Lock()
	r, err := f.up.Isend(b, 0, tagEvent)
	f.sendMu.Unlock()
	if err != nil {
		return fmt.Errorf("send %v event: %w", e.Kind, err)
	}
	if err := wait(ctx, &f.busy, r); err != nil {
		return fmt.Errorf("send %v event: %w", e.Kind, err)
	}
	f.ring(0)
	return nil
}

// Receive waits for the next event from any worker. Rank 0 only.
func (f *Fabric) Receive(ctx context.Context) (event, error) {
	var in *mpi.Incoming
	err := f.idle.Wait(ctx, func() (bool, error) {
		m, ok, err := f.up.Probe(mpi.AnySource, tagEvent)
		if ok {
			in = m
		}
		return ok, err
	})
	if err != nil {
		return event{}, fmt.Errorf("wait for event: %w", err)
	}
	b, _, _, err := in.Recv()
	if err != nil {
		return event{}, fmt.Errorf("receive event: %w", err)
	}
	return decode[event](b)
}

// Interrupt asks the given workers to interrupt cell seq. It does not wait
// for them to act; their evDone says when they have.
func (f *Fabric) Interrupt(ctx context.Context, seq uint64, ranks []int) error {
	b, err := encode(interrupt{Seq: seq})
	if err != nil {
		return err
	}
	reqs := make([]*mpi.Request, 0, len(ranks))
	for _, r := range ranks {
		if r == 0 {
			continue
		}
		q, err := f.intr.Isend(b, r, tagInterrupt)
		if err != nil {
			return fmt.Errorf("send interrupt to rank %d: %w", r, err)
		}
		reqs = append(reqs, q)
	}
	for _, q := range reqs {
		if err := wait(ctx, &f.busy, q); err != nil {
			return fmt.Errorf("send interrupt: %w", err)
		}
	}
	f.ring(ranks...)
	return nil
}

// PendingInterrupt reports whether an interrupt for cell seq has arrived,
// consuming any stale interrupts for earlier cells on the way. Workers only.
func (f *Fabric) PendingInterrupt(seq uint64) (bool, error) {
	for {
		m, ok, err := f.intr.Probe(0, tagInterrupt)
		if err != nil || !ok {
			return false, err
		}
		b, _, _, err := m.Recv()
		if err != nil {
			return false, fmt.Errorf("receive interrupt: %w", err)
		}
		in, err := decode[interrupt](b)
		if err != nil {
			return false, err
		}
		if in.Seq == seq {
			return true, nil
		}
	}
}
