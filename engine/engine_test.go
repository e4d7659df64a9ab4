package engine

import (
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gompi-kernel/gompi-kernel/kernel"
	"github.com/gompi-kernel/gompi-kernel/kernel/session"
)

func TestRankList(t *testing.T) {
	for _, tc := range []struct {
		in   []int
		want string
	}{
		{[]int{2}, "rank 2"},
		{[]int{0, 1, 2, 3}, "ranks 0-3"},
		{[]int{1, 3, 5, 6, 7}, "ranks 1,3,5-7"},
		{[]int{0, 1, 3}, "ranks 0-1,3"},
	} {
		if got := rankList(tc.in); got != tc.want {
			t.Errorf("rankList(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFoldErrors(t *testing.T) {
	boom := &session.Error{Name: "Panic", Value: "boom", Traceback: []string{"1:1: panic"}}
	ok := doneReport{}
	if e := foldErrors([]doneReport{ok, ok}, nil, "cell 1"); e != nil {
		t.Fatalf("no failure folded into %+v", e)
	}
	// One rank: its error as it is, no rank label, under a red name line.
	if e := foldErrors([]doneReport{{Err: boom}}, nil, "cell 1"); e.Value != "boom" || e.Traceback[0] != session.Red+"Panic"+session.Reset {
		t.Errorf("single rank: %+v", e)
	}
	// The same failure on several ranks is named once.
	e := foldErrors([]doneReport{{Err: boom}, ok, {Err: boom}, {Err: boom}}, nil, "cell 1")
	if e.Name != "Panic" || e.Value != "ranks 0,2-3: boom" {
		t.Errorf("alike failures: %+v", e)
	}
	// Different failures are listed apiece; stuck ranks are named apart,
	// with where they waited.
	other := &session.Error{Name: "CompileError", Value: "1:1: undefined: x"}
	stuck := &session.Error{Name: "Interrupted", Value: "interrupted"}
	e = foldErrors([]doneReport{{Err: stuck, Where: "Barrier"}, {Err: boom}, {Err: other}, {Err: stuck, Where: "Barrier"}}, []int{0, 3}, "cell 1")
	for _, want := range []string{"rank 1: boom", "rank 2: 1:1: undefined: x", "ranks 0,3 still running", "waiting in mpi.Barrier"} {
		if !strings.Contains(e.Value, want) {
			t.Errorf("evalue %q lacks %q", e.Value, want)
		}
	}
	if e.Name != "Panic" {
		t.Errorf("name %q, want the first failure's", e.Name)
	}
	// Ranks that panicked with different messages head the error once.
	p := func(msg string) doneReport { return doneReport{Err: &session.Error{Name: "Panic", Value: msg}} }
	e = foldErrors([]doneReport{ok, p("singular block on rank 1"), p("singular block on rank 2"), p("singular block on rank 3")}, nil, "cell 2")
	if want := session.Red + "Panic" + session.Reset + " on ranks 1-3"; e.Traceback[0] != want {
		t.Errorf("heading %q, want %q", e.Traceback[0], want)
	}
}

// TestFanoutTree: every worker is reached exactly once, and the depth of
// the tree grows with log_4 N.
func TestFanoutTree(t *testing.T) {
	for _, size := range []int{2, 5, 16, 17, 64, 256} {
		seen := make([]int, size)
		depth := map[int]int{0: 0}
		deepest := 0
		queue := []int{0}
		for len(queue) > 0 {
			r := queue[0]
			queue = queue[1:]
			for _, c := range children(r, size, treeArity) {
				seen[c]++
				depth[c] = depth[r] + 1
				deepest = max(deepest, depth[c])
				queue = append(queue, c)
			}
		}
		for r := 1; r < size; r++ {
			if seen[r] != 1 {
				t.Errorf("size %d: rank %d reached %d times", size, r, seen[r])
			}
		}
		// A 4-ary heap of N nodes is ceil(log4(3N+1)) - 1 deep.
		want := 0
		for n := 1; n < size; n = 4*n + 1 {
			want++
		}
		if deepest != want {
			t.Errorf("size %d: depth %d, want %d", size, deepest, want)
		}
	}
}

func TestFanoutChoice(t *testing.T) {
	t.Setenv(fanoutEnv, "tree")
	if got := chooseFanout(4, 4, slog.New(slog.DiscardHandler)); got != treeArity {
		t.Errorf("%s=tree: arity %d", fanoutEnv, got)
	}
	t.Setenv(fanoutEnv, "direct")
	if got := chooseFanout(256, 1, slog.New(slog.DiscardHandler)); got != 0 {
		t.Errorf("%s=direct: arity %d", fanoutEnv, got)
	}
	t.Setenv(fanoutEnv, "")
	if got := chooseFanout(64, 64, slog.New(slog.DiscardHandler)); got != 0 && runtime.NumCPU() < 64 {
		t.Errorf("64 ranks on %d cores: arity %d, want direct sends", runtime.NumCPU(), got)
	}
	for _, c := range []command{{Kind: cmdExecute, Ranks: []int{0}}, {Kind: cmdReset}, {Kind: cmdCall}, {Kind: cmdEndCell}} {
		if treeable(c) {
			t.Errorf("%v (ranks %v) must go directly", c.Kind, c.Ranks)
		}
	}
}

// TestExpecting: after a ring whose message has not shown, rest looks
// again soon and then less often, never later than it would have anyway,
// and only for expectFor.
func TestExpecting(t *testing.T) {
	idle := 2 * time.Second
	for _, tc := range []struct{ since, want time.Duration }{
		{0, time.Millisecond},
		{2 * time.Millisecond, time.Millisecond},
		{40 * time.Millisecond, 10 * time.Millisecond},
		{200 * time.Millisecond, expectEvery},
		{expectFor, idle},
	} {
		if got := expecting(idle, tc.since); got != tc.want {
			t.Errorf("%v after the ring: look again in %v, want %v", tc.since, got, tc.want)
		}
	}
	if got := expecting(3*time.Millisecond, 500*time.Millisecond); got != 3*time.Millisecond {
		t.Errorf("a shorter rest (lingering after a send) must stay: %v", got)
	}
}

// TestCellMagicIsComplete: a %%compile cell typed in a console goes on
// until an empty line, unless its Go is unfinished or invalid.
func TestCellMagicIsComplete(t *testing.T) {
	var c Coordinator
	for code, want := range map[string]string{
		"%%compile":                              "incomplete",
		"%%compile\nfunc F() int { return 1 }":   "incomplete",
		"%%compile\nfunc F() int { return 1 }\n": "complete",
		"%%compile\nfunc F() int {\n":            "incomplete",
		"%%compile\nfunc F() int {\n\n":          "incomplete",
		"%%compile\n}}\n":                        "invalid",
		"%%rank0\nfmt.Println(1)\n   ":           "complete",
		"func F() int { return 1 }":              "complete",
	} {
		if got, _ := c.IsComplete(code); got != want {
			t.Errorf("IsComplete(%q) = %s, want %s", code, got, want)
		}
	}
}

// displayRecorder records streams and displays in order.
type displayRecorder struct {
	recorder
	order []string
}

func (r *displayRecorder) Stream(name, text string, md map[string]any) {
	r.order = append(r.order, "stream:"+text)
}

func (r *displayRecorder) Display(d kernel.Display) {
	r.order = append(r.order, fmt.Sprintf("display:%v", d.Data["text/plain"]))
}

// TestRichOutputAttributed: rich output from a rank other than 0, or from
// rank 0 after another rank's, follows a line naming the rank; rank 0 alone
// shows as before; updates are not labelled again.
func TestRichOutputAttributed(t *testing.T) {
	rec := &displayRecorder{}
	l := newLabeller(rec, allRun(4), outputCollapsed)
	l.forRank(0).Display(kernel.Display{Data: map[string]any{"text/plain": "a"}})
	l.forRank(2).Display(kernel.Display{Data: map[string]any{"text/plain": "b"}})
	l.forRank(0).Display(kernel.Display{Data: map[string]any{"text/plain": "c"}})
	l.forRank(2).Display(kernel.Display{Data: map[string]any{"text/plain": "d"}, ID: "p", Update: true})
	got := strings.Join(rec.order, "|")
	if want := "display:a|stream:[2]\n|display:b|stream:[0]\n|display:c|display:d"; got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	one := &displayRecorder{}
	newLabeller(one, allRun(1), outputCollapsed).forRank(0).Display(kernel.Display{Data: map[string]any{"text/plain": "a"}})
	if got := strings.Join(one.order, "|"); got != "display:a" {
		t.Errorf("one rank: %q", got)
	}
}

// TestStackLimit: all ranks of a node overflowing their stacks together
// take at most a quarter of its memory; a worker's limit is a power of two
// from 64 MiB to 256 MiB (rank 0 gets 1 GiB).
func TestStackLimit(t *testing.T) {
	for _, tc := range []struct {
		mem   uint64
		local int
		want  int
	}{
		{24 << 30, 64, 64 << 20},
		{24 << 30, 16, 256 << 20},
		{24 << 30, 4, 256 << 20},
		{16 << 30, 8, 256 << 20},
		{16 << 30, 32, 128 << 20},
		{8 << 30, 256, 64 << 20},
		{0, 4, 0},
	} {
		if got := stackLimit(tc.mem, tc.local); got != tc.want {
			t.Errorf("stackLimit(%d MB, %d ranks) = %d MB, want %d MB", tc.mem>>20, tc.local, got>>20, tc.want>>20)
		}
	}
}

// TestWallTimes: %time lists each rank's time up to 8 ranks; above, the
// median, the fastest and the slowest rank; ranks that did not run the
// cell (-1) are left out.
func TestWallTimes(t *testing.T) {
	for _, tc := range []struct {
		seconds []float64
		want    string
	}{
		{[]float64{0.5}, "Wall time: [0] 500ms\n"},
		{[]float64{0.001, -1, 0.25}, "Wall time: [0] 1ms [2] 250ms; slowest: rank 2 (250ms)\n"},
		{[]float64{0.3, 0.1, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.5},
			"Wall time on 10 ranks: median 550ms; fastest: rank 1 (100ms); slowest: rank 9 (1.5s)\n"},
		{[]float64{2, 1, 3, 4, 5, 6, 7, 8, 9, -1, -1}, "Wall time on 9 ranks: median 5s; fastest: rank 1 (1s); slowest: rank 8 (9s)\n"},
	} {
		if got := wallTimes(tc.seconds); got != tc.want {
			t.Errorf("wallTimes(%v) = %q, want %q", tc.seconds, got, tc.want)
		}
	}
}
