package mpi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func init() {
	scenarios["world"] = scenarioWorld
	scenarios["errors"] = scenarioErrors
	scenarios["interrupt"] = scenarioInterrupt
	scenarios["renewals"] = scenarioRenewals
	scenarios["bench"] = scenarioBench
}

type point struct {
	X, Y float64
	Name string
}

func newWorld() (*World, error) {
	w, err := NewWorld(WorldComm())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	_ = cancel // lives as long as the job
	w.Bind(ctx)
	return w, nil
}

func scenarioWorld(rank, size int) error {
	w, err := newWorld()
	if err != nil {
		return err
	}
	if w.Rank() != rank || w.Size() != size {
		return fmt.Errorf("rank/size %d/%d", w.Rank(), w.Size())
	}
	if err := w.Barrier(); err != nil {
		return err
	}
	// Allreduce: sum of rank-dependent data.
	const n = 1000
	send := make([]float64, n)
	for i := range send {
		send[i] = float64(rank + i)
	}
	recv := make([]float64, n)
	if err := w.Allreduce(send, recv, Sum); err != nil {
		return err
	}
	for i, v := range recv {
		if want := float64(size*(size-1)/2 + size*i); v != want {
			return fmt.Errorf("Allreduce Sum [%d] = %g, want %g", i, v, want)
		}
	}
	ints := []int{rank, -rank}
	if err := w.Allreduce(ints, ints, Max); err != nil { // in place
		return err
	}
	if ints[0] != size-1 || ints[1] != 0 {
		return fmt.Errorf("Allreduce Max in place: %v", ints)
	}
	var prod []float64
	if err := w.Allreduce([]float64{float64(rank + 1)}, &prod, Prod); err != nil {
		return err
	}
	if want := float64(factorial(size)); len(prod) != 1 || prod[0] != want {
		return fmt.Errorf("Allreduce Prod: %v, want %g", prod, want)
	}
	// Reduce to root 1 (0 for a singleton), nil recv elsewhere.
	root := 1 % size
	var rrecv []int
	if rank == root {
		rrecv = make([]int, 1)
	}
	if err := w.Reduce([]int{rank}, rrecv, Min, root); err != nil {
		return err
	}
	if rank == root && rrecv[0] != 0 {
		return fmt.Errorf("Reduce Min: %v", rrecv)
	}
	// Bcast: in place, resized, gob.
	bcRoot := size - 1
	f := make([]float64, 3)
	var grown []int
	p := point{}
	if rank == bcRoot {
		f = []float64{1.5, 2.5, 3.5}
		grown = []int{7, 8, 9, 10}
		p = point{1, 2, "root"}
	}
	if err := w.Bcast(f, bcRoot); err != nil {
		return err
	}
	if err := w.Bcast(&grown, bcRoot); err != nil {
		return err
	}
	if err := w.Bcast(&p, bcRoot); err != nil {
		return err
	}
	if !reflect.DeepEqual(f, []float64{1.5, 2.5, 3.5}) || !reflect.DeepEqual(grown, []int{7, 8, 9, 10}) || p != (point{1, 2, "root"}) {
		return fmt.Errorf("Bcast: %v %v %v", f, grown, p)
	}
	// Gather order, Allgather, Scatter.
	var g []int
	if err := w.Gather([]int{rank, rank * 10}, &g, 0); err != nil {
		return err
	}
	if rank == 0 {
		for r := 0; r < size; r++ {
			if g[2*r] != r || g[2*r+1] != 10*r {
				return fmt.Errorf("Gather: %v", g)
			}
		}
	}
	ag := make([]byte, size)
	if err := w.Allgather([]byte{byte('a' + rank)}, ag); err != nil {
		return err
	}
	for r := range ag {
		if ag[r] != byte('a'+r) {
			return fmt.Errorf("Allgather: %q", ag)
		}
	}
	var all []float64
	if rank == 0 {
		for r := 0; r < size; r++ {
			all = append(all, float64(r), float64(-r))
		}
	}
	piece := make([]float64, 2)
	if err := w.Scatter(all, piece, 0); err != nil {
		return err
	}
	if piece[0] != float64(rank) || piece[1] != float64(-rank) {
		return fmt.Errorf("Scatter: %v", piece)
	}
	// Value collectives.
	var pts []point
	if err := w.GatherValue(point{float64(rank), 0, fmt.Sprint("p", rank)}, &pts, size-1); err != nil {
		return err
	}
	if rank == size-1 {
		for r, q := range pts {
			if q.X != float64(r) || q.Name != fmt.Sprint("p", r) {
				return fmt.Errorf("GatherValue: %v", pts)
			}
		}
	}
	var names []string
	if err := w.AllgatherValue(fmt.Sprint("r", rank), &names); err != nil {
		return err
	}
	if len(names) != size || names[size-1] != fmt.Sprint("r", size-1) {
		return fmt.Errorf("AllgatherValue: %v", names)
	}
	var maps []map[string]int
	if rank == 0 {
		for r := 0; r < size; r++ {
			maps = append(maps, map[string]int{"rank": r})
		}
	}
	var mine map[string]int
	if err := w.ScatterValue(maps, &mine, 0); err != nil {
		return err
	}
	if mine["rank"] != rank {
		return fmt.Errorf("ScatterValue: %v", mine)
	}
	// Send/Recv: rank 0 to each other rank; small, large (not inline), gob.
	big := make([]float64, 100000)
	if rank == 0 {
		for i := range big {
			big[i] = float64(i)
		}
		for r := 1; r < size; r++ {
			// Large sends complete only when received (as MPI_Send):
			// the receiver takes tags 1 and 3 in the other order, then 2.
			if err := w.Send(point{3, 4, "sent"}, r, 3); err != nil {
				return err
			}
			if err := w.Send([]int{r, 42}, r, 1); err != nil {
				return err
			}
			if err := w.Send(big, r, 2); err != nil {
				return err
			}
		}
	} else {
		small := make([]int, 5)
		st, err := w.Recv(small, AnySource, 1)
		if err != nil || st.Count != 2 || small[0] != rank || small[1] != 42 || st.Tag != 1 || st.Source != 0 {
			return fmt.Errorf("Recv ints: %v %v %+v", small, err, st)
		}
		var q point
		st, err = w.Recv(&q, 0, AnyTag)
		if err != nil || q.Name != "sent" || st.Source != 0 || st.Tag != 3 {
			return fmt.Errorf("Recv gob: %v %v %+v", q, err, st)
		}
		var got []float64
		st, err = w.Recv(&got, 0, 2)
		if err != nil || len(got) != len(big) || got[99999] != 99999 {
			return fmt.Errorf("Recv big: len %d %v %+v", len(got), err, st)
		}
	}
	// Sendrecv ring.
	next, prev := (rank+1)%size, (rank+size-1)%size
	in := make([]int, 1)
	st, err := w.Sendrecv([]int{rank}, next, 9, in, prev, 9)
	if err != nil || in[0] != prev || st.Source != prev {
		return fmt.Errorf("Sendrecv: %v %v %+v", in, err, st)
	}
	// Symbols: the method set as package functions.
	sym := w.Symbols()
	for _, name := range []string{"Rank", "Barrier", "Allreduce", "Sendrecv", "GatherValue", "Sum", "Op", "Status", "AnySource"} {
		if _, ok := sym[name]; !ok {
			return fmt.Errorf("Symbols lacks %s", name)
		}
	}
	for _, name := range []string{"Bind", "Renew", "Dirty", "Symbols"} {
		if _, ok := sym[name]; ok {
			return fmt.Errorf("Symbols has %s", name)
		}
	}
	if r := sym["Rank"].Call(nil)[0].Int(); int(r) != rank {
		return fmt.Errorf("Symbols Rank() = %d", r)
	}
	return w.Barrier()
}

func factorial(n int) int {
	if n <= 1 {
		return 1
	}
	return n * factorial(n-1)
}

// expectErr checks that err is non-nil and mentions every part.
func expectErr(what string, err error, parts ...string) error {
	if err == nil {
		return fmt.Errorf("%s: no error", what)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			return fmt.Errorf("%s: error %q does not mention %q", what, err, p)
		}
	}
	report(-1, "err", fmt.Sprintf("%s: %v", what, err))
	return nil
}

func scenarioErrors(rank, size int) error {
	w, err := newWorld()
	if err != nil {
		return err
	}
	// Mismatched Bcast lengths: every rank gets the error.
	n := 4
	if rank == 1 {
		n = 5
	}
	if err := expectErr("Bcast lengths", w.Bcast(make([]float64, n), 0), "lengths differ", "rank 1: 5"); err != nil {
		return err
	}
	if err := expectErr("Bcast root", w.Bcast(make([]int, 2), 7), fmt.Sprintf("mpi: Bcast: root 7 out of range [0,%d)", size)); err != nil {
		return err
	}
	// A bad recv on the root only: the root says why, the others who.
	recv := make([]float64, 3)
	if rank == 0 {
		recv = make([]float64, 2)
	}
	err = w.Reduce([]float64{1, 2, 3}, recv, Sum, 0)
	if rank == 0 {
		err = expectErr("Reduce recv", err, "recv has 2 elements, send 3")
	} else {
		err = expectErr("Reduce recv", err, "invalid arguments on rank(s) [0]")
	}
	if err != nil {
		return err
	}
	if err := expectErr("Allreduce type", w.Allreduce([]string{"a"}, make([]string, 1), Sum), "send must be a []float64 or []int"); err != nil {
		return err
	}
	if err := expectErr("Allreduce op", w.Allreduce([]int{1}, make([]int, 1), Op(9)), "unknown op"); err != nil {
		return err
	}
	if err := expectErr("Gather lengths", w.Gather(make([]int, rank+1), new([]int), 0), "disagree on the send length"); err != nil {
		return err
	}
	// One rank passes nil: it says why, the others name it.
	var data any = make([]int, 1)
	bad := 2 % size
	if rank == bad {
		data = nil
	}
	err = w.Bcast(data, 0)
	if rank == bad {
		err = expectErr("Bcast nil", err, "mpi: Bcast: data is nil")
	} else {
		err = expectErr("Bcast nil", err, fmt.Sprintf("mpi: Bcast: not run: invalid arguments on rank(s) [%d]", bad))
	}
	if err != nil {
		return err
	}
	if err := expectErr("Send rank", w.Send([]int{1}, size, 0), "dest", "out of range"); err != nil {
		return err
	}
	if err := expectErr("Send tag", w.Send([]int{1}, 0, -1), "tag -1"); err != nil {
		return err
	}
	// A too-small Recv buffer: clear error, message consumed, stream intact.
	if size > 1 {
		if rank == 0 {
			for _, m := range [][]float64{make([]float64, 10), make([]float64, 50000), {1, 2}} {
				if err := w.Send(m, 1, 4); err != nil {
					return err
				}
			}
		}
		if rank == 1 {
			buf := make([]float64, 5)
			if _, err := w.Recv(buf, 0, 4); expectErr("Recv small", err, "holds 10 float64", "room for 5") != nil {
				return expectErr("Recv small", err, "holds 10 float64", "room for 5")
			}
			if _, err := w.Recv(buf, 0, 4); expectErr("Recv big", err, "holds 50000 float64") != nil {
				return expectErr("Recv big", err, "holds 50000 float64")
			}
			st, err := w.Recv(buf, 0, 4)
			if err != nil || st.Count != 2 || buf[1] != 2 {
				return fmt.Errorf("Recv after errors: %v %+v %v", err, st, buf)
			}
		}
	}
	// And everything still works.
	sum := make([]int, 1)
	if err := w.Allreduce([]int{1}, sum, Sum); err != nil || sum[0] != size {
		return fmt.Errorf("Allreduce after errors: %v %v", sum, err)
	}
	return w.Barrier()
}

// scenarioInterrupt: ranks 1.. enter Barrier, rank 0 does not; their
// contexts are cancelled after 200 ms and Barrier must return
// context.Canceled within 50 ms. Then all Renew, and Barrier and Allreduce
// work again. An interrupted Recv (nothing pending) leaves the World clean.
func scenarioInterrupt(rank, size int) error {
	w, err := newWorld()
	if err != nil {
		return err
	}
	if rank == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		w.Bind(ctx)
		_, err := w.Recv(make([]byte, 1), AnySource, AnyTag)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || w.Dirty() {
			return fmt.Errorf("interrupted Recv: %v, dirty %v", err, w.Dirty())
		}
		time.Sleep(400 * time.Millisecond)
	} else {
		ctx, cancel := context.WithCancel(context.Background())
		w.Bind(ctx)
		var cancelled time.Time
		time.AfterFunc(200*time.Millisecond, func() { cancelled = time.Now(); cancel() })
		err := w.Barrier()
		lat := time.Since(cancelled)
		if !errors.Is(err, context.Canceled) {
			return fmt.Errorf("Barrier returned %v", err)
		}
		report(rank, "cancel_latency", lat.Seconds())
		if lat > 50*time.Millisecond {
			return fmt.Errorf("Barrier returned %v after cancel", lat)
		}
		if !w.Dirty() {
			return errors.New("not dirty after an abandoned Barrier")
		}
		w.Bind(context.Background())
		if err := w.Barrier(); !errors.Is(err, ErrDirty) {
			return fmt.Errorf("Barrier on a dirty World: %v", err)
		}
	}
	w.Bind(context.Background())
	if err := w.Renew(); err != nil {
		return err
	}
	if w.Dirty() {
		return errors.New("dirty after Renew")
	}
	if err := w.Barrier(); err != nil {
		return err
	}
	sum := make([]float64, 1)
	if err := w.Allreduce([]float64{float64(rank)}, sum, Sum); err != nil {
		return err
	}
	if sum[0] != float64(size*(size-1)/2) {
		return fmt.Errorf("Allreduce after Renew: %v", sum)
	}
	report(rank, "pending", Pending())
	return nil
}

// scenarioBench measures Allreduce of 1e6 float64 and Bcast of 64 MiB
// through World (non-blocking MPI + cell Poller), and a memcpy baseline.
func scenarioBench(rank, size int) error {
	w, err := newWorld()
	if err != nil {
		return err
	}
	const iters = 5
	mem := func(n int) float64 { // memcpy GB/s of n bytes
		a, b := make([]byte, n), make([]byte, n)
		copy(b, a)
		t := time.Now()
		for i := 0; i < iters; i++ {
			copy(b, a)
		}
		return float64(iters*n) / time.Since(t).Seconds() / 1e9
	}
	if rank == 0 {
		report(rank, "memcpy_GBps", mem(64<<20))
	}
	x := make([]float64, 1000000)
	y := make([]float64, len(x))
	for i := range x {
		x[i] = float64(rank)
	}
	best := math.Inf(1)
	for i := 0; i < iters; i++ {
		if err := w.Barrier(); err != nil {
			return err
		}
		t := time.Now()
		if err := w.Allreduce(x, y, Sum); err != nil {
			return err
		}
		best = math.Min(best, time.Since(t).Seconds())
	}
	if y[0] != float64(size*(size-1)/2) {
		return fmt.Errorf("Allreduce: %g", y[0])
	}
	report(rank, "allreduce_s", best)
	report(rank, "allreduce_GBps", 8e6/best/1e9)
	buf := make([]byte, 64<<20)
	if rank == 0 {
		for i := range buf {
			buf[i] = byte(i)
		}
	}
	best = math.Inf(1)
	for i := 0; i < iters; i++ {
		if err := w.Barrier(); err != nil {
			return err
		}
		t := time.Now()
		if err := w.Bcast(buf, 0); err != nil {
			return err
		}
		best = math.Min(best, time.Since(t).Seconds())
	}
	if buf[12345] != byte(12345%256) {
		return errors.New("Bcast content")
	}
	report(rank, "bcast_s", best)
	report(rank, "bcast_GBps", float64(len(buf))/best/1e9)
	// The same with a pure busy-wait (what blocking MPI calls do), to see
	// what the cell Poller's sleeps cost.
	w.poll = Poller{Spin: math.MaxInt}
	best, best2 := math.Inf(1), math.Inf(1)
	for i := 0; i < iters; i++ {
		w.Barrier()
		t := time.Now()
		if err := w.Allreduce(x, y, Sum); err != nil {
			return err
		}
		best = math.Min(best, time.Since(t).Seconds())
		w.Barrier()
		t = time.Now()
		if err := w.Bcast(buf, 0); err != nil {
			return err
		}
		best2 = math.Min(best2, time.Since(t).Seconds())
	}
	report(rank, "allreduce_spin_GBps", 8e6/best/1e9)
	report(rank, "bcast_spin_GBps", float64(len(buf))/best2/1e9)
	return nil
}

// scenarioRenewals: renewalRounds times, every rank but 1 abandons a
// Barrier and then all Renew, as after a cell interrupted while rank 1
// slept and the others waited in mpi.Barrier. The ranks that abandoned one
// keep their old communicators and rank 1 does not, so they disagree on
// the free context ids; two MPI_Comm_idup in flight at once then hung, or
// mixed up messages, now and then in OpenMPI (World.Renew). Then an
// Allreduce must work.
func scenarioRenewals(rank, size int) error {
	w, err := newWorld()
	if err != nil {
		return err
	}
	for i := range renewalRounds {
		if rank != 1 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
			w.Bind(ctx)
			err := w.Barrier()
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("round %d: Barrier without rank 1 returned %v", i, err)
			}
		}
		w.Bind(context.Background())
		if err := w.Renew(); err != nil {
			return fmt.Errorf("round %d: %w", i, err)
		}
	}
	sum := make([]int, 1)
	if err := w.Allreduce([]int{rank}, sum, Sum); err != nil {
		return err
	}
	if sum[0] != size*(size-1)/2 {
		return fmt.Errorf("Allreduce after %d renewals: %v", renewalRounds, sum)
	}
	return nil
}

// renewalRounds of scenarioRenewals: with the two MPI_Comm_idup of a
// renewal overlapped, 2 of 8 runs of 300 rounds failed (World.Renew).
const renewalRounds = 300

func TestWorldRenewals(t *testing.T) {
	t.Parallel()
	runJob(t, 4, "renewals", 60*time.Second)
}

func TestWorld(t *testing.T) {
	t.Parallel()
	runJob(t, 4, "world", 40*time.Second)
}

func TestWorld16(t *testing.T) {
	t.Parallel()
	runJob(t, 16, "world", 50*time.Second)
}

func TestWorldSingleton(t *testing.T) {
	t.Parallel()
	runJob(t, 0, "world", 30*time.Second)
}

func TestWorldErrors(t *testing.T) {
	t.Parallel()
	res := runJob(t, 4, "errors", 40*time.Second)
	_ = res
}

func TestWorldInterrupt(t *testing.T) {
	t.Parallel()
	res := runJob(t, 4, "interrupt", 40*time.Second)
	t.Logf("Barrier returned after cancel in %v s; pending (abandoned) requests per rank %v", res.floats(t, "cancel_latency"), res.values["pending"])
}

func benchJob(b *testing.B, n int) {
	res := runJob(b, n, "bench", 120*time.Second)
	get := func(key string) float64 {
		v := res.floats(b, key)
		lo := math.Inf(1)
		for _, x := range v {
			lo = math.Min(lo, x)
		}
		return lo
	}
	b.ReportMetric(get("memcpy_GBps"), "memcpy-GB/s")
	b.ReportMetric(get("allreduce_GBps"), "allreduce1e6-GB/s")
	b.ReportMetric(get("bcast_GBps"), "bcast64MiB-GB/s")
	b.ReportMetric(get("allreduce_spin_GBps"), "allreduce1e6-busywait-GB/s")
	b.ReportMetric(get("bcast_spin_GBps"), "bcast64MiB-busywait-GB/s")
	b.Logf("%d ranks: memcpy %.2f GB/s; Allreduce 1e6 float64 %.2f ms (%.2f GB/s); Bcast 64 MiB %.1f ms (%.2f GB/s) [slowest rank]",
		n, get("memcpy_GBps"), 1e3*maxOf(res.floats(b, "allreduce_s")), get("allreduce_GBps"), 1e3*maxOf(res.floats(b, "bcast_s")), get("bcast_GBps"))
}

func maxOf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = math.Max(m, x)
	}
	return m
}

// BenchmarkTransfer2 and BenchmarkTransfer4 run one MPI job each (b.N is
// not used: a job measures its own best of 5).
func BenchmarkTransfer2(b *testing.B) { benchJob(b, 2) }
func BenchmarkTransfer4(b *testing.B) { benchJob(b, 4) }
