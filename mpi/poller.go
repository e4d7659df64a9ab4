package mpi

import (
	"context"
	"os"
	"runtime"
	"time"
)

// Poller waits for a non-blocking MPI operation without burning a core.
//
// OpenMPI's blocking waits busy-poll: a rank sitting in MPI_Bcast or MPI_Wait
// uses 100% of a core. A Poller instead calls ready() Spin times in a row
// (cheap, and enough for an operation that is about to finish), then sleeps
// between calls, starting at Min and doubling up to Max. Max bounds both the
// CPU an idle rank uses (one wake-up per Max) and the delay before it
// notices a completed operation — unless Wake ends the sleep early: a
// Doorbell's channel there makes an idle rank both cheap and prompt.
//
// The defaults are set by what a wake-up costs. Measured on the development
// VM (Firecracker, 2 cores), a timer wake-up of an idle Go process costs
// 100–300 µs of CPU (whether through time.Sleep or a raw nanosleep; the VM
// makes it expensive), MPI_Improbe after a sleep ~100 µs more, and a process
// doing nothing at all ~0.1% of a core (Go runtime and OpenMPI threads).
// With DefaultMax = 50 ms four idle ranks used 2.6–2.9% of one core in
// total and notice a command within 50 ms; with a 10 ms cap they used 13%.
// For long idle waits use IdleMax plus a Doorbell: ~1.2% for four ranks (of
// which 0.4% is the baseline), and ~1 ms to notice a ring.
type Poller struct {
	Spin int           // calls of ready before the first sleep; 0 means DefaultSpin, <0 none
	Min  time.Duration // first sleep; 0 means DefaultMin
	Max  time.Duration // longest sleep; 0 means DefaultMax

	// Wake, if not nil, cuts a sleep short: Wait calls ready again as soon as
	// a value arrives (see Doorbell). The backoff restarts at Min.
	Wake <-chan struct{}
	// Yield gives the core away (sched_yield) after each call of ready
	// that spins without success: set it where ranks outnumber cores
	// (Oversubscribed), so that a spinning rank lets the ranks it waits for
	// run. It stands in for OpenMPI's own yield in every idle progress call
	// (mpi_yield_when_idle, on by itself when oversubscribed), which the
	// kernel turns off since it also hit the kernel's single looks
	// (YieldOnlyWhileSpinning).
	Yield bool
}

// Oversubscribed reports whether this node runs more ranks than it has
// cores, as far as the launcher said (LocalSize).
func Oversubscribed() bool {
	n, ok := LocalSize()
	return ok && n > runtime.NumCPU()
}

// YieldOnlyWhileSpinning, called before Init, turns off OpenMPI's yield in
// idle progress calls unless the user set it (OMPI_MCA_mpi_yield_when_idle),
// and reports whether it did. When ranks outnumber cores OpenMPI calls
// sched_yield in every MPI call that progresses nothing, so each of the
// kernel's looks for a message (MPI_Improbe in a resting rank, the interrupt
// check during a cell) gave the core away, a context switch each: measured
// on 2 cores, a worker's CPU per trivial cell fell from 0.48-0.51 to
// 0.36-0.37 ms at 16 ranks without it. The spins that need the yield (a
// cell's collectives, waiting for ranks that must run to answer) get it
// from Poller.Yield instead: without any yield, 50 Barriers at 16 ranks on
// 2 cores took 1.1-1.4 s instead of 72 ms. MPICH ignores the variable.
func YieldOnlyWhileSpinning() (bool, error) {
	if _, set := os.LookupEnv(yieldEnv); set {
		return false, nil
	}
	if err := os.Setenv(yieldEnv, "0"); err != nil {
		return false, err
	}
	return true, nil
}

// yieldEnv is OpenMPI's MCA parameter mpi_yield_when_idle.
const yieldEnv = "OMPI_MCA_mpi_yield_when_idle"

// Defaults of the zero Poller.
const (
	DefaultSpin = 50
	DefaultMin  = 50 * time.Microsecond
	DefaultMax  = 50 * time.Millisecond
)

// IdleMax is the Max recommended for a rank that idles while waiting for
// work and whose sender rings a Doorbell: the ring gives the latency (about
// a millisecond), Max only bounds the cost and the delay should a ring be
// lost. Every wake-up costs 0.1–0.3 ms of CPU on a small VM, plus the Go
// runtime's own wake-ups that follow it; measured with the whole kernel
// idle: 250 ms gave 1.6% of one core for 4 ranks and 5.2% for 16, 2 s gives
// 0.7% and 1.7%.
const IdleMax = 2 * time.Second

// setupPoller waits for the collective steps of setting up (communicator
// duplication, the doorbell's address exchange). Each such operation takes
// several rounds, and a round advances only when every rank polls: with the
// default backoff a handful of Dups took 1.6 s at start-up on 4 ranks; with
// this one-off fast poller, milliseconds.
func setupPoller() *Poller {
	return &Poller{Spin: 1000, Min: 10 * time.Microsecond, Max: time.Millisecond, Yield: Oversubscribed()}
}

func (p *Poller) params() (spin int, min, max time.Duration) {
	spin, min, max = DefaultSpin, DefaultMin, DefaultMax
	if p != nil {
		if p.Spin > 0 {
			spin = p.Spin
		} else if p.Spin < 0 {
			spin = 0
		}
		if p.Min > 0 {
			min = p.Min
		}
		if p.Max > 0 {
			max = p.Max
		}
	}
	if min > max {
		min = max
	}
	return spin, min, max
}

// Wait calls ready until it reports true (Wait returns nil) or an error
// (returned as is), or until ctx is done (Wait returns ctx.Err()). ready is
// called at least once, even with a cancelled ctx, so an operation that has
// completed is never reported as cancelled. A nil Poller or nil ctx is
// allowed and means the defaults / no cancellation.
func (p *Poller) Wait(ctx context.Context, ready func() (bool, error)) error {
	if ctx == nil {
		ctx = context.Background()
	}
	spin, lo, hi := p.params()
	d := lo
	done := ctx.Done()
	var timer *time.Timer
	for i := 0; ; i++ {
		ok, err := ready()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if i < spin {
			if p != nil && p.Yield {
				yieldCore()
			}
			continue
		}
		if timer == nil {
			timer = time.NewTimer(d)
			defer timer.Stop()
		} else {
			timer.Reset(d)
		}
		var wake <-chan struct{}
		if p != nil {
			wake = p.Wake
		}
		select {
		case <-timer.C:
		case <-wake:
			timer.Stop() // Go ≥1.23: no stale value can be received after Stop
			d = lo
			continue
		case <-done:
			// One last look: report success if the operation made it.
			if ok, err := ready(); err != nil || ok {
				return err
			}
			return ctx.Err()
		}
		if d *= 2; d > hi {
			d = hi
		}
	}
}
