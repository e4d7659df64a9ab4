package tests

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gompi-kernel/gompi-kernel/internal/mpiimpl"
	"github.com/gompi-kernel/gompi-kernel/internal/sysmon"
)

// TestCellMPI is the cell-side MPI package on a real 4-rank kernel:
// collectives with numeric checks, point to point, clear errors, and that a
// cell's wildcard receive never sees kernel traffic (and the kernel never
// swallows a cell's message).
func TestCellMPI(t *testing.T) {
	k := startKernel(t, 4)
	res := drive(t, k.connFile,
		// 0: Allreduce of rank-dependent data, all four ops.
		exec1(`send := []float64{float64(mpi.Rank() + 1), 2}
sum := make([]float64, 2)
mx := make([]float64, 2)
mpi.Allreduce(send, sum, mpi.Sum)
mpi.Allreduce(send, mx, mpi.Max)
fmt.Println(sum, mx)`),
		// 1: Gather in rank order, Bcast of a gob value, Scatter.
		exec1(`all := make([]int, 4)
if err := mpi.Allgather([]int{mpi.Rank() * mpi.Rank()}, all); err != nil { panic(err) }
type Cfg struct { Name string; N int }
cfg := Cfg{}
if mpi.Rank() == 0 { cfg = Cfg{"heat", 7} }
if err := mpi.Bcast(&cfg, 0); err != nil { panic(err) }
fmt.Println(all, cfg.Name, cfg.N)`),
		// 2: the kernel's output traffic (rank 0 and 2 print a lot) does not
		// reach rank 1's wildcard receive, nor does rank 3's message to
		// rank 0 get lost in the kernel's receiver.
		exec1(`if mpi.Rank() == 0 || mpi.Rank() == 2 {
	for i := 0; i < 200; i++ { fmt.Println("noise", i) }
}
switch mpi.Rank() {
case 0:
	if err := mpi.Send([]int{42}, 1, 7); err != nil { panic(err) }
	got := make([]int, 1)
	st, err := mpi.Recv(got, mpi.AnySource, mpi.AnyTag)
	fmt.Println("rank0 got", got[0], "from", st.Source, "tag", st.Tag, err)
case 1:
	got := make([]int, 1)
	st, err := mpi.Recv(got, mpi.AnySource, mpi.AnyTag)
	fmt.Println("rank1 got", got[0], "from", st.Source, "tag", st.Tag, err)
case 3:
	if err := mpi.Send([]int{99}, 0, 5); err != nil { panic(err) }
}`),
		// 3: a length mismatch is a clear error on every rank, not a crash.
		exec1(`buf := make([]float64, 3 + mpi.Rank())
err := mpi.Bcast(buf, 0)
fmt.Println("err:", err)`),
		// 4: and the world is still usable.
		exec1(`one := []int{1}
n := []int{0}
mpi.Allreduce(one, n, mpi.Sum)
n[0]`),
		action{"do": "shutdown"},
	)
	out := res[0].stream("stdout")
	for r := 0; r < 4; r++ {
		if !printedBy(out, r, "[10 8] [4 2]") {
			t.Errorf("Allreduce: want rank %d's %q in\n%s", r, "[10 8] [4 2]", out)
		}
	}
	out = res[1].stream("stdout")
	for r := 0; r < 4; r++ {
		if !printedBy(out, r, "[0 1 4 9] heat 7") {
			t.Errorf("Allgather/Bcast: want rank %d's %q in\n%s", r, "[0 1 4 9] heat 7", out)
		}
	}
	out = res[2].stream("stdout")
	for _, want := range []struct {
		rank int
		text string
	}{{1, "rank1 got 42 from 0 tag 7 <nil>"}, {0, "rank0 got 99 from 3 tag 5 <nil>"}, {2, "noise 199"}} {
		if !printedBy(out, want.rank, want.text) {
			t.Errorf("traffic separation: want rank %d's %q in\n%s", want.rank, want.text, lastLines(out, 10))
		}
	}
	if res[2].status() != "ok" {
		t.Errorf("traffic separation cell: %v", res[2].Reply)
	}
	out = res[3].stream("stdout")
	if !printedByPrefix(out, 0, "err: mpi: Bcast: lengths differ") || !printedByPrefix(out, 3, "err: mpi: Bcast:") {
		t.Errorf("mismatched Bcast lengths: want a clear error on every rank:\n%s", out)
	}
	if got := textResult(res[4]); got != "4" {
		t.Errorf("Allreduce after the error = %q, want 4", got)
	}
	if err := k.wait(30 * time.Second); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// TestNoHangs: a rank fails while the others wait for it in a collective.
// The cell ends with one error naming the failed rank and the stuck ones,
// and the next cell, with collectives, runs on all ranks.
func TestNoHangs(t *testing.T) {
	k := startKernel(t, 4)
	res := drive(t, k.connFile,
		exec1(`if mpi.Rank() == 2 { panic("boom on two") }
mpi.Barrier()
fmt.Println("after barrier")`),
		exec1(`x := []float64{1}
y := []float64{0}
if err := mpi.Allreduce(x, y, mpi.Sum); err != nil { panic(err) }
y[0]`),
		action{"do": "shutdown"},
	)
	errs := res[0].of("error")
	if len(errs) != 1 {
		t.Fatalf("%d error messages, want 1: %+v", len(errs), res[0].Msgs)
	}
	ev := errs[0].Content["evalue"].(string)
	for _, want := range []string{"rank 2", "boom on two", "ranks 0-1,3", "Barrier"} {
		if !strings.Contains(ev, want) {
			t.Errorf("error %q lacks %q", ev, want)
		}
	}
	if strings.Contains(res[0].stream("stdout"), "after barrier") {
		t.Errorf("a rank got past the barrier:\n%s", res[0].stream("stdout"))
	}
	if got := textResult(res[1]); got != "4" {
		t.Errorf("collective after the failure = %q (reply %v)", got, res[1].Reply)
	}
	if err := k.wait(30 * time.Second); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// TestInterruptInsideMPI interrupts cells whose ranks are blocked in MPI
// calls and in time.Sleep; each time the kernel stays usable, including
// collectives on the same mpi world.
func TestInterruptInsideMPI(t *testing.T) {
	k := startKernel(t, 4)
	cells := []string{
		`if mpi.Rank() != 0 { mpi.Barrier() } else { for {} }`,
		`buf := make([]int, 1); mpi.Recv(buf, mpi.AnySource, 3)`,
		`if mpi.Rank() == 0 { time.Sleep(time.Hour) }; s := []float64{1}; r := []float64{0}; mpi.Allreduce(s, r, mpi.Sum)`,
		`time.Sleep(time.Hour)`,
	}
	var actions []action
	for _, c := range cells {
		actions = append(actions,
			action{"do": "execute", "code": c, "interrupt_after": 1.0},
			exec1(`z := []int{mpi.Rank()}; zz := []int{0}; mpi.Allreduce(z, zz, mpi.Sum); zz[0]`))
	}
	actions = append(actions, action{"do": "shutdown"})
	res := drive(t, k.connFile, actions...)
	for i, c := range cells {
		r := res[2*i]
		if r.status() != "error" || r.Reply["ename"] != "Interrupted" {
			t.Errorf("cell %q: reply %v", c, r.Reply)
		}
		t.Logf("interrupt of %q: execute_reply after %.0f ms", c, (r.Seconds-1.0)*1000)
		if got := textResult(res[2*i+1]); got != "6" {
			t.Errorf("Allreduce after interrupting %q = %q (reply %v)", c, got, res[2*i+1].Reply)
		}
	}
	if err := k.wait(30 * time.Second); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// TestLiveOutput: what a worker prints during a long cell reaches the
// frontend while the cell still runs, labelled and in order; 10 MB from one
// rank arrive whole and in order.
func TestLiveOutput(t *testing.T) {
	k := startKernel(t, 4)
	res := drive(t, k.connFile,
		exec1(`fmt.Println("early", mpi.Rank())
time.Sleep(1500 * time.Millisecond)
fmt.Println("late", mpi.Rank())`),
		exec1(`if mpi.Rank() == 3 {
	pad := strings.Repeat("x", 91)
	for i := 0; i < 100000; i++ { fmt.Printf("%07d %s\n", i, pad) }
}`),
		exec1(`if mpi.Rank() == 1 {
	fmt.Print("progress...")
	time.Sleep(1500 * time.Millisecond)
	fmt.Println(" done")
}`),
		action{"do": "shutdown"},
	)
	var early, late float64
	for _, m := range res[0].of("stream") {
		text := m.Content["text"].(string)
		if strings.Contains(text, "[3] early 3") {
			early = m.T
		}
		if strings.Contains(text, "[3] late 3") {
			late = m.T
		}
	}
	if early == 0 || late == 0 {
		t.Fatalf("missing output:\n%s", res[0].stream("stdout"))
	}
	// The line printed before the 1.5 s sleep must be seen at least a
	// second before the one printed after it: streamed, not collected at
	// the end.
	if late-early < 1.0 {
		t.Errorf("rank 3's first line arrived %.2f s, its last %.2f s after the request: not live", early, late)
	}
	t.Logf("rank 3's early line reached the client %.0f ms after the request", early*1000)

	out := res[1].stream("stdout")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 100000 {
		t.Fatalf("10 MB output: %d lines arrived, want 100000", len(lines))
	}
	pad := strings.Repeat("x", 91)
	for i, l := range lines {
		if want := fmt.Sprintf("[3] %07d %s", i, pad); l != want {
			t.Fatalf("line %d = %.40q…, want %.40q…", i, l, want)
		}
	}
	// A line printed without its newline shows while the cell runs, and
	// the rest of it continues the line.
	var partial, rest float64
	for _, m := range res[2].of("stream") {
		switch m.Content["text"].(string) {
		case "[1] progress...":
			partial = m.T
		case " done\n":
			rest = m.T
		}
	}
	if partial == 0 || rest == 0 || rest-partial < 1.0 {
		t.Errorf("unfinished line not shown live (at %.2f s, rest at %.2f s): %q", partial, rest, res[2].stream("stdout"))
	}
	if got := res[2].stream("stdout"); got != "[1] progress... done\n" {
		t.Errorf("progress line reads %q", got)
	}
	if err := k.wait(30 * time.Second); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// TestRankDeath: a worker killed from outside ends the kernel, with the
// launcher saying which rank died, instead of leaving a kernel that hangs.
func TestRankDeath(t *testing.T) {
	skipKilledRankUnderMPICH(t)
	k := startKernel(t, 4)
	drive(t, k.connFile, exec1(`x := mpi.Rank()`))
	workers := ranksOf(k.cmd.Process.Pid)
	if len(workers) != 4 {
		t.Fatalf("the launcher runs %d ranks, want 4: %v", len(workers), workers)
	}
	if err := syscall.Kill(workers[2], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := k.wait(60 * time.Second)
	if err == nil {
		t.Fatalf("mpirun exited 0 after a rank was killed")
	}
	if strings.Contains(err.Error(), "still running") {
		t.Fatalf("kernel hangs after a rank died: %v\nstderr:\n%s", err, k.stderr)
	}
	if !strings.Contains(k.stderr.String(), "exited on signal 9") {
		t.Errorf("no message naming the dead rank:\n%s", k.stderr)
	}
	if pids := processesOf(k.connFile); len(pids) > 0 {
		t.Errorf("processes left: %v", pids)
	}
}

// TestSixteenRanks: the basics on 16 ranks on a 2-core machine.
func TestSixteenRanks(t *testing.T) {
	k := startKernel(t, 16)
	res := drive(t, k.connFile,
		exec1(`fmt.Println("rank", mpi.Rank())`),
		exec1(`if mpi.Rank() == 11 { panic("eleven") }; mpi.Barrier()`),
		exec1(`v := []int{mpi.Rank()}; s := []int{0}; mpi.Allreduce(v, s, mpi.Sum); s[0]`),
		action{"do": "execute", "code": `if mpi.Rank() % 2 == 0 { for {} } else { mpi.Barrier() }`, "interrupt_after": 1.0},
		exec1(`mpi.Size()`),
		action{"do": "shutdown"},
	)
	out := res[0].stream("stdout")
	for r := 0; r < 16; r++ {
		if want := fmt.Sprintf("[%d] rank %d\n", r, r); !strings.Contains(out, want) {
			t.Errorf("missing %q", want)
		}
	}
	if ev, _ := res[1].Reply["evalue"].(string); !strings.Contains(ev, "rank 11: eleven") || !strings.Contains(ev, "ranks 0-10,12-15") {
		t.Errorf("failure on rank 11: %q", ev)
	}
	if got := textResult(res[2]); got != "120" {
		t.Errorf("Allreduce on 16 ranks = %q, want 120", got)
	}
	if res[3].Reply["ename"] != "Interrupted" {
		t.Errorf("interrupt on 16 ranks: %v", res[3].Reply)
	}
	if got := textResult(res[4]); got != "16" {
		t.Errorf("after interrupt: %q", got)
	}
	if err := k.wait(60 * time.Second); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// TestIdleRanksRest: a kernel sitting idle uses less than 2% of one core in
// total at 4 ranks and less than 5% at 16 (mpirun and every rank, from
// /proc over 10 s) — OpenMPI's own blocking waits would use 100% per rank.
func TestIdleRanksRest(t *testing.T) {
	for _, tc := range []struct {
		ranks int
		limit float64
	}{{4, 0.02}, {16, 0.05}} {
		t.Run(fmt.Sprintf("ranks=%d", tc.ranks), func(t *testing.T) {
			// Debug: a failure shows the ranks' sysmon lines.
			k := startKernel(t, tc.ranks, "--log-level", "debug")
			drive(t, k.connFile, exec1(`x := 1`))
			time.Sleep(3 * time.Second) // let the pollers' backoff settle
			pids := append(descendantsOf(k.cmd.Process.Pid), k.cmd.Process.Pid)
			before := cpuSeconds(pids)
			start := time.Now()
			time.Sleep(10 * time.Second)
			used := (cpuSeconds(pids) - before) / time.Since(start).Seconds()
			t.Logf("%d idle ranks (+mpirun): %.2f%% of one core", tc.ranks, 100*used)
			if used > tc.limit {
				t.Errorf("idle kernel used %.2f%% of a core, limit %.0f%%", 100*used, 100*tc.limit)
			}
			checkSysmonSlack(t, ranksOf(k.cmd.Process.Pid), tc.ranks)
			drive(t, k.connFile, action{"do": "shutdown"})
			if err := k.wait(60 * time.Second); err != nil {
				t.Error(err)
			}
		})
	}
}

// skipKilledRankUnderMPICH leaves the tests that kill a rank with a signal
// to the OpenMPI run. Under MPICH 4.0.2 as Debian builds it (ch4:ucx, Hydra
// started with -disable-auto-cleanup) the surviving ranks, rank 0 among
// them, die within about 0.1 s of a rank's SIGKILL, whether they rest or
// wait for it in a collective: Hydra then reports "Killed (signal 9)" or
// "Segmentation fault (signal 11)" for the job, with no rank named and no
// Go traceback from any rank, and rank 0 cannot tell the frontend which
// rank died. With MPIR_CVAR_ENABLE_FT=1 (MPICH's process-failure
// tolerance) MPICH asserts in MPI_Test at the first cell instead. A rank
// that dies by exiting (a Go fatal error: TestRankDeathIsReported's
// concurrent map writes) is reported under MPICH as under OpenMPI.
func skipKilledRankUnderMPICH(t *testing.T) {
	t.Helper()
	if mpiimpl.Name == "mpich" {
		t.Skip("under MPICH the other ranks die with a rank killed by a signal (see skipKilledRankUnderMPICH)")
	}
}

// checkSysmonSlack: in every rank, the Go runtime's monitor thread (the
// oldest thread after the main one, sysmon.FirstThread) and no other has the 2
// ms timer slack that keeps it from waking every 20 µs (internal/sysmon).
// A thread that sysmon started inherits the slack until the rank's next
// look (engine.sysmonCheck, 5 s), so one found with it must have lost it
// 6 s later. Reading another process's slack needs CAP_SYS_NICE, as root.
func checkSysmonSlack(t *testing.T, ranks []int, want int) {
	t.Helper()
	if len(ranks) != want {
		t.Fatalf("found %d rank processes, want %d", len(ranks), want)
	}
	long := func(tid int) (bool, error) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/timerslack_ns", tid))
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil // the thread ended
		}
		return strings.TrimSpace(string(b)) == "2000000", err
	}
	var later []int // threads to look at again: [pid, tid, …]
	for _, pid := range ranks {
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			t.Fatal(err)
		}
		var tids []int
		for _, e := range ents {
			tid, _ := strconv.Atoi(e.Name())
			tids = append(tids, tid)
		}
		first, _ := sysmon.FirstThread(pid, tids)
		for _, tid := range tids {
			l, err := long(tid)
			if errors.Is(err, fs.ErrPermission) {
				t.Log("sysmon's timer slack not checked: reading another process's needs CAP_SYS_NICE (run as root)")
				return
			}
			switch {
			case tid == first && !l:
				t.Errorf("rank process %d: sysmon (thread %d) has not the 2 ms timer slack", pid, tid)
			case tid != first && l:
				later = append(later, pid, tid)
			}
		}
	}
	if len(later) == 0 {
		return
	}
	time.Sleep(6 * time.Second)
	for i := 0; i < len(later); i += 2 {
		if l, _ := long(later[i+1]); l {
			t.Errorf("rank process %d: thread %d, not sysmon, still has the 2 ms timer slack after 6 s (%s)", later[i], later[i+1], threadInfo(later[i], later[i+1]))
		}
	}
}

// threadInfo says what a failure needs to know of thread tid of process
// pid: its name, blocked signals, where it waits.
func threadInfo(pid, tid int) string {
	dir := fmt.Sprintf("/proc/%d/task/%d/", pid, tid)
	comm, _ := os.ReadFile(dir + "comm")
	wchan, _ := os.ReadFile(dir + "wchan")
	blk := ""
	if b, err := os.ReadFile(dir + "status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "SigBlk:"); ok {
				blk = strings.TrimSpace(v)
			}
		}
	}
	return fmt.Sprintf("name %q, SigBlk %s, waits in %s", strings.TrimSpace(string(comm)), blk, wchan)
}

// descendantsOf lists the processes below pid: OpenMPI's mpirun starts
// the ranks itself, MPICH's Hydra mpiexec through a hydra_pmi_proxy.
func descendantsOf(pid int) []int {
	parent := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 2 {
			parent[p], _ = strconv.Atoi(f[1])
		}
	}
	var out []int
	for p := range parent {
		for q := parent[p]; q > 1; q = parent[q] {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	sort.Ints(out)
	return out
}

// ranksOf lists the rank processes of the job whose launcher is pid: its
// descendants that run the kernel binary.
func ranksOf(pid int) []int {
	var out []int
	for _, p := range descendantsOf(pid) {
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p)); err == nil && exe == binary {
			out = append(out, p)
		}
	}
	return out
}

// cpuSeconds sums the CPU time the processes have used: schedstat of every
// thread (nanoseconds; /proc/PID/schedstat alone is the main thread only),
// else utime+stime from stat (clock ticks, whole process).
func cpuSeconds(pids []int) float64 {
	var total float64
	for _, p := range pids {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", p))
		var ns float64
		ok := len(tasks) > 0
		for _, task := range tasks {
			b, err := os.ReadFile(task)
			f := strings.Fields(string(b))
			if err != nil || len(f) == 0 {
				ok = false
				break
			}
			v, err := strconv.ParseFloat(f[0], 64)
			if err != nil {
				ok = false
				break
			}
			ns += v
		}
		if ok {
			total += ns / 1e9
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		total += (ut + st) / 100
	}
	return total
}

// TestRichOutput: display_data from every rank reaches the frontend with
// the rank in its metadata; display ids update in place; a value whose
// type (declared in a cell) has an HTML method renders itself.
func TestRichOutput(t *testing.T) {
	k := startKernel(t, 4)
	res := drive(t, k.connFile,
		exec1(`display.HTML(fmt.Sprintf("<b>rank %d</b>", mpi.Rank()))`),
		exec1(`%%rank0
id := display.NewID()
display.Update(id, "step 1")
display.Update(id, "step 2")`),
		exec1(`type Badge struct{ N int }
func (b Badge) HTML() string { return fmt.Sprintf("<span>%d</span>", b.N) }
Badge{mpi.Size()}`),
		action{"do": "shutdown"},
	)
	seen := map[int]bool{}
	for _, m := range res[0].of("display_data") {
		md, _ := m.Content["metadata"].(map[string]any)
		r, ok := md["rank"].(float64)
		html, _ := m.Content["data"].(map[string]any)["text/html"].(string)
		if !ok || html != fmt.Sprintf("<b>rank %d</b>", int(r)) {
			t.Errorf("display from rank %v: %q", md["rank"], html)
		}
		seen[int(r)] = true
	}
	if len(seen) != 4 {
		t.Errorf("display_data from ranks %v, want all 4: %+v", seen, res[0].Msgs)
	}
	dd, up := res[1].of("display_data"), res[1].of("update_display_data")
	if len(dd) != 1 || len(up) != 1 {
		t.Fatalf("display id: %d display_data, %d update_display_data: %+v", len(dd), len(up), res[1].Msgs)
	}
	id1, _ := dd[0].Content["transient"].(map[string]any)["display_id"].(string)
	id2, _ := up[0].Content["transient"].(map[string]any)["display_id"].(string)
	if id1 == "" || id1 != id2 {
		t.Errorf("display ids %q and %q", id1, id2)
	}
	rs := res[2].of("execute_result")
	if len(rs) != 1 || rs[0].Content["data"].(map[string]any)["text/html"] != "<span>4</span>" {
		t.Errorf("HTML method of a cell type: %+v", res[2].Msgs)
	}
	if err := k.wait(30 * time.Second); err != nil {
		t.Error(err)
	}
}
