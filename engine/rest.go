package engine

import (
	"context"
	"time"

	"github.com/gompi-kernel/gompi-kernel/mpi"
)

// unrungMax is how long a resting rank sleeps between polls while a rank
// that would ring it has no connection to its bell (a doorbell that cannot
// be dialled across hosts): the extra latency of a cell is then bounded by
// this instead of IdleMax.
const unrungMax = 50 * time.Millisecond

// restMax is the longest a resting rank sleeps without a ring: IdleMax
// while every rank that rings this one is connected to its bell (rank 0 is
// rung by every worker, a worker by rank 0), unrungMax otherwise.
func (f *Fabric) restMax() time.Duration {
	rung := f.bell.Reaches(0)
	if f.rank == 0 {
		rung = f.bell.ReachedBy() >= f.size-1
	}
	if !rung {
		return unrungMax
	}
	return mpi.IdleMax
}

// lingerAt are the times after rank 0's latest send at which its resting
// receiver still looks (and so drives MPI's progress). A send that MPI
// reports complete may still wait in the sender's own queue (its data
// copied, the receiver's queue full), and only the sender's next MPI call
// moves it on: a rank that rested on the bell at once could leave the very
// message its receiver was rung for undelivered until IdleMax. The first
// look comes after a trivial cell's round trip at a few ranks (2-3 ms).
// Workers do not linger: rank 0 nudges those whose done report it awaits
// (Fabric.Nudge), which costs nothing when the reports come.
var lingerAt = [...]time.Duration{4 * time.Millisecond, 32 * time.Millisecond}

// restFor is how long rest sleeps before it looks again unless rung: on
// rank 0 until the next lingerAt after the latest send, else restMax, or
// expectEvery while rank 0 has a cell in flight (SetBusy).
func (f *Fabric) restFor() time.Duration {
	if f.rank == 0 {
		since := time.Duration(time.Now().UnixNano() - f.lastSend.Load())
		for _, at := range lingerAt {
			if since < at {
				return at - since
			}
		}
	}
	if f.busyCell.Load() {
		return expectEvery
	}
	return f.restMax()
}

// SetBusy tells rank 0's receiver whether a cell is in flight. While one
// is, the receiver looks every expectEvery even without a ring: at 64
// ranks on 2 cores a worker's ring was now and then not seen (cause not
// found), and the cell then waited for IdleMax; between cells rank 0 rests
// as long as ever. Rank 0 only.
func (f *Fabric) SetBusy(busy bool) {
	f.busyCell.Store(busy)
	if busy {
		select { // the receiver's rest re-reads restFor (not the bell: that would make it look)
		case f.rethink <- struct{}{}:
		default:
		}
	}
}

// sent notes a send for restFor.
func (f *Fabric) sent() { f.lastSend.Store(time.Now().UnixNano()) }

// settleSpins and settleFor bound how closely rest looks after a ring.
const (
	settleSpins = 10
	settleFor   = 2 * time.Millisecond
	// expectFor is how long after a ring whose message had not shown
	// (settle gave up) rest keeps looking every so often (expectEvery, at
	// most): the message's sender may have lost its core before MPI moved
	// the message on, for tens of milliseconds when 64 ranks share 2
	// cores. Without this, such a cell waited for IdleMax.
	expectFor   = 250 * time.Millisecond
	expectEvery = 20 * time.Millisecond
)

// rest waits until ready, sleeping until this rank's bell rings (or the
// idle poller's Max passes): every sender rings after its message is on its
// way, so a resting rank needs no timer wake-ups of its own. A Poller's
// backoff (spin, then sleeps from 50 µs doubling) cost a worker ~0.2 ms of
// CPU per trivial cell in MPI_Improbe calls and timer wake-ups between
// cells. After a ring, rest looks closely (settle) for two milliseconds,
// then every so often for a quarter second (expecting), in case the message is
// still on its way (over TCP between hosts, or from a sender that lost its
// core right after ringing).
func (f *Fabric) rest(ctx context.Context, ready func() (bool, error)) error {
	var rung time.Time // the latest ring whose message did not show at once
	timer := time.NewTimer(f.restFor())
	defer timer.Stop()
	for {
		if ok, err := ready(); err != nil || ok {
			return err
		}
		select {
		case <-f.bell.C():
			if ok, err := settle(ready); err != nil || ok {
				return err
			}
			rung = time.Now()
		case <-f.rethink:
		case <-timer.C:
			if ok, err := ready(); err != nil || ok {
				// Found without a ring: a ring was lost, or came before
				// its message and settle gave up.
				f.log.Debug("rest: message found by polling, not by a ring", "rank", f.rank)
				return err
			}
		case <-ctx.Done():
			if ok, err := ready(); err != nil || ok {
				return err
			}
			return ctx.Err()
		}
		timer.Reset(expecting(f.restFor(), time.Since(rung)))
	}
}

// expecting shortens a rest of d while a rung message is awaited, since a
// ring sinceRung ago: looks grow apart with the wait (a quarter of it, from
// 1 ms) up to expectEvery, for expectFor.
func expecting(d, sinceRung time.Duration) time.Duration {
	if sinceRung >= expectFor {
		return d
	}
	return min(d, max(time.Millisecond, min(sinceRung/4, expectEvery)))
}

// settle calls ready settleSpins times, then with sleeps from 20 µs
// doubling to 2 ms, for at most settleFor.
func settle(ready func() (bool, error)) (bool, error) {
	d := 20 * time.Microsecond
	for i, end := 0, time.Now().Add(settleFor); ; i++ {
		if ok, err := ready(); err != nil || ok {
			return ok, err
		}
		if i < settleSpins {
			continue
		}
		if time.Now().After(end) {
			return false, nil
		}
		time.Sleep(d)
		d = min(2*d, 2*time.Millisecond)
	}
}
