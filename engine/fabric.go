package engine

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gompi-kernel/gompi-kernel/mpi"
)

// Message tags on the kernel's communicators. Each communicator carries one
// kind of traffic, so the tags only guard against mistakes.
const (
	tagEvent     = 1
	tagInterrupt = 2
	tagCommand   = 3
	tagGather    = 4 // done reports from a child to its inner parent (gather.go)
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
	// cellComms are the cells' World's first communicators, made with the
	// others (NewFabric); the World makes later ones from cells (Renew).
	cellComms [2]*mpi.Comm

	rank, size int
	local      int // ranks on this node (MPI_COMM_TYPE_SHARED); size: the whole job is on one host
	fan        int // arity of the command fan-out tree; 0: direct sends (chooseFanout)

	// bell wakes a resting rank the moment something was sent to it, so
	// that an idle rank can sleep long between polls (OpenMPI's own waits
	// busy-poll a whole core) and still answer at once.
	bell *mpi.Doorbell

	// busy polls often (a cell is running: latency matters more than a
	// few wake-ups). A resting rank sleeps on the bell instead (rest).
	busy mpi.Poller

	sendMu   sync.Mutex    // keeps one rank's events in the order they were posted
	lastSend atomic.Int64  // time.Now().UnixNano() of the latest send: rest lingers after it
	busyCell atomic.Bool   // rank 0 has a cell in flight (SetBusy)
	rethink  chan struct{} // SetBusy: rest re-reads restFor
	log      *slog.Logger
}

// NewFabric duplicates MPI_COMM_WORLD for each kind of kernel traffic. It is
// collective: every rank calls it at start, in the same order.
func NewFabric(log *slog.Logger) (*Fabric, error) {
	world := mpi.WorldComm()
	f := &Fabric{
		world:   world,
		rank:    world.Rank(),
		size:    world.Size(),
		log:     log,
		rethink: make(chan struct{}, 1),
	}
	// All the kernel's communicators in one round, the cells' World's too
	// (NewRank): each round waits for every rank to be scheduled, 0.05-0.1 s
	// at 64 ranks on 2 cores.
	dups, err := world.DupN(context.Background(), 6)
	if err != nil {
		return nil, fmt.Errorf("duplicate MPI_COMM_WORLD: %w", err)
	}
	f.cmd, f.up, f.intr, f.cells = dups[0], dups[1], dups[2], dups[3]
	f.cellComms = [2]*mpi.Comm{dups[4], dups[5]}
	// How many ranks share this node: as the launcher said (OpenMPI's,
	// Hydra's and Slurm's spellings, mpi.LocalSize), else as MPI itself
	// says, whichever MPI and launcher started the job. The launcher comes
	// first because asking MPI is a collective that, with OpenMPI's idle
	// yield off (mpi.YieldOnlyWhileSpinning), spins: at 64 ranks on 2 cores
	// it took start-up from 2.9 to 5.2 s.
	local, ok := mpi.LocalSize()
	if !ok {
		var err error
		if local, err = world.LocalSize(); err != nil {
			return nil, fmt.Errorf("ranks on this node: %w", err)
		}
	}
	f.local = local
	if f.rank == 0 {
		f.fan = chooseFanout(f.size, f.local, log)
	}
	bell, err := mpi.NewDoorbell(f.world, log)
	if err != nil {
		return nil, fmt.Errorf("doorbell: %w", err)
	}
	f.bell = bell
	// Connect now, in the background, so that the first cell's rings go
	// out at once: rank 0 rings every worker, a worker rings rank 0.
	if f.rank == 0 {
		bell.Dial(f.workers()...)
	} else {
		bell.Dial(0)
	}
	// Only one goroutine may consume the bell, or a ring meant for the
	// resting receiver is eaten by a short wait elsewhere: on rank 0 the
	// bell belongs to the event receiver, on a worker to the command loop
	// (and, during a cell, to its cell loop). The busy poller sleeps at most a
	// millisecond and needs no bell.
	f.busy = mpi.Poller{Spin: 200, Min: 20 * time.Microsecond, Max: time.Millisecond, Yield: mpi.Oversubscribed()}
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
			f.log.Debug("doorbell", "rank", r, "err", err)
		}
	}
}

// Nudge rings the given workers, and where commands fan out as a tree
// their ancestors, so that each calls into MPI and so moves on a message
// MPI reported sent but still holds (see lingerAt). Rank 0 does it for the
// ranks whose done report it awaits (Coordinator.await): a worker's last
// message before it rests is its done report, and a resting worker looks
// only when rung. Before, every worker looked 4 and 32 ms after each of its
// sends instead: at 64 ranks on 2 cores, where a trivial cell takes longer
// than 4 ms, that timer wake-up was more than half of a worker's CPU per
// cell (0.64-0.72 ms with it, 0.24-0.28 without). A worker still running
// the cell, or that has not reached its command yet, only looks once more.
func (f *Fabric) Nudge(ranks []int) {
	seen := map[int]bool{}
	var to []int
	for _, r := range ranks {
		for r > 0 && !seen[r] {
			seen[r] = true
			to = append(to, r)
			if f.fan <= 0 {
				break
			}
			r = (r - 1) / f.fan // the parent that forwarded r's command
		}
	}
	f.ring(to...)
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

// NewCellWorld is the cells' World, on the communicators NewFabric made
// for it. Call it once.
func (f *Fabric) NewCellWorld() (*mpi.World, error) {
	return mpi.NewWorldOf(f.cells, f.cellComms[0], f.cellComms[1])
}

// sendEach posts body to every rank in to, rings their doorbells and waits
// until MPI is done with every send. A send that is complete at once (an
// eager message already in the receiver's queue) is rung at once. The
// others are rung before the wait, since a large message is only taken once
// its receiver, woken, probes for it, and again after it, since a message
// MPI queued at the sender shows at the receiver only once the sender's
// progress moved it: a receiver that looked too early would sleep until
// its next poll.
func (f *Fabric) sendEach(ctx context.Context, c *mpi.Comm, body []byte, to []int, tag int, ringAfter bool) error {
	reqs := make([]*mpi.Request, 0, len(to))
	defer f.sent()
	for _, r := range to {
		q, err := c.Isend(body, r, tag)
		if err != nil {
			return fmt.Errorf("send to rank %d: %w", r, err)
		}
		reqs = append(reqs, q)
	}
	var late []int
	for i, q := range reqs {
		if done, err := q.Test(); err == nil && done {
			f.ring(to[i])
		} else {
			late = append(late, to[i])
		}
	}
	f.ring(late...)
	for _, q := range reqs {
		if err := f.busy.Wait(ctx, q.Test); err != nil {
			return err
		}
	}
	if ringAfter {
		f.ring(late...)
	}
	return nil
}

// receive takes the message a probe announced and decodes it.
func receive[T any](m *mpi.Incoming, what string) (T, error) {
	body, _, _, err := m.Recv()
	if err != nil {
		var zero T
		return zero, fmt.Errorf("receive %s: %w", what, err)
	}
	return decode[T](body)
}

// probe waits with wait (resting, or a busy poller) until a message from
// source with tag arrives on c.
func probe(ctx context.Context, wait func(context.Context, func() (bool, error)) error, c *mpi.Comm, source, tag int) (*mpi.Incoming, error) {
	var in *mpi.Incoming
	err := wait(ctx, func() (bool, error) {
		m, ok, err := c.Probe(source, tag)
		if ok {
			in = m
		}
		return ok, err
	})
	return in, err
}

// await waits, resting, until a message from source with tag arrives on c,
// and decodes it.
func await[T any](ctx context.Context, f *Fabric, c *mpi.Comm, source, tag int, what string) (T, error) {
	in, err := probe(ctx, f.rest, c, source, tag)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("wait for %s: %w", what, err)
	}
	return receive[T](in, what)
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
	// A worker told to quit closes its bell, perhaps before it is rung (it
	// may find the command by polling): a ring would only fail and be
	// reported as a rank that cannot be reached.
	if c.Kind == cmdQuit {
		f.bell.Retire()
	}
	if err := f.sendEach(ctx, f.cmd, body, to, tagCommand, c.Kind != cmdQuit); err != nil {
		return fmt.Errorf("send %v: %w", c.Kind, err)
	}
	return nil
}

// TryCommand returns rank 0's next command if one has arrived. Workers only.
func (f *Fabric) TryCommand() (command, bool, error) {
	m, ok, err := f.cmd.Probe(0, tagCommand)
	if err != nil || !ok {
		return command{}, false, err
	}
	c, err := receive[command](m, "command")
	return c, err == nil, err
}

// NextCommand waits, resting, for rank 0's next command. Workers only.
func (f *Fabric) NextCommand(ctx context.Context) (command, error) {
	// Any source: through the fan-out tree a command comes from the parent.
	return await[command](ctx, f, f.cmd, mpi.AnySource, tagCommand, "command")
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
	defer f.sent()
	if err != nil {
		return fmt.Errorf("send %v event: %w", e.Kind, err)
	}
	if err := f.busy.Wait(ctx, r.Test); err != nil {
		return fmt.Errorf("send %v event: %w", e.Kind, err)
	}
	f.ring(0)
	return nil
}

// sendGathered sends a batch of done reports to an inner rank of the tree
// (gather.pass) and rings it.
func (f *Fabric) sendGathered(ctx context.Context, parent int, e event) error {
	b, err := encode(e)
	if err != nil {
		return err
	}
	r, err := f.up.Isend(b, parent, tagGather)
	defer f.sent()
	if err != nil {
		return fmt.Errorf("send done reports: %w", err)
	}
	if err := f.busy.Wait(ctx, r.Test); err != nil {
		return fmt.Errorf("send done reports: %w", err)
	}
	f.ring(parent)
	return nil
}

// tryGathered returns a child's batch of done reports if one has arrived.
// Only a rank's children send it batches, and only for the cell it runs.
func (f *Fabric) tryGathered() (event, bool, error) {
	m, ok, err := f.up.Probe(mpi.AnySource, tagGather)
	if err != nil || !ok {
		return event{}, false, err
	}
	e, err := receive[event](m, "done reports")
	return e, err == nil, err
}

// Receive waits for the next event from any worker. Rank 0 only.
func (f *Fabric) Receive(ctx context.Context) (event, error) {
	return await[event](ctx, f, f.up, mpi.AnySource, tagEvent, "event")
}

// Interrupt asks the given workers to interrupt cell seq. It does not wait
// for them to act; their evDone says when they have.
func (f *Fabric) Interrupt(ctx context.Context, seq uint64, ranks []int) error {
	return f.sendInterrupt(ctx, interrupt{Seq: seq}, ranks)
}

// Flush asks the given workers to pass up at once the done reports of
// cell seq they hold (gather.flush), without interrupting anything.
func (f *Fabric) Flush(ctx context.Context, seq uint64, ranks []int) error {
	return f.sendInterrupt(ctx, interrupt{Seq: seq, Flush: true}, ranks)
}

func (f *Fabric) sendInterrupt(ctx context.Context, in interrupt, ranks []int) error {
	b, err := encode(in)
	if err != nil {
		return err
	}
	workers := make([]int, 0, len(ranks))
	for _, r := range ranks {
		if r != 0 {
			workers = append(workers, r)
		}
	}
	if err := f.sendEach(ctx, f.intr, b, workers, tagInterrupt, true); err != nil {
		return fmt.Errorf("send interrupt: %w", err)
	}
	return nil
}

// PendingInterrupt returns the next interrupt (or flush request) for cell
// seq if one has arrived, consuming any stale ones for earlier cells on
// the way. Workers only.
func (f *Fabric) PendingInterrupt(seq uint64) (interrupt, bool, error) {
	for {
		m, ok, err := f.intr.Probe(0, tagInterrupt)
		if err != nil || !ok {
			return interrupt{}, false, err
		}
		in, err := receive[interrupt](m, "interrupt")
		if err != nil {
			return interrupt{}, false, err
		}
		if in.Seq == seq {
			return in, true, nil
		}
	}
}
