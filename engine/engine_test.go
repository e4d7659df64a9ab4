package engine

import (
	"fmt"
	"strings"
	"sync"
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
}

type recordedStream struct{ name, text string }

type recorder struct{ streams []recordedStream }

func (r *recorder) Stream(name, text string, _ map[string]any) {
	r.streams = append(r.streams, recordedStream{name, text})
}
func (r *recorder) Display(kernel.Display) {}
func (r *recorder) Clear(bool)             {}
func (r *recorder) Input(string, bool) (string, error) {
	return "", nil
}

func TestLabellerKeepsLinesWhole(t *testing.T) {
	rec := &recorder{}
	l := newLabeller(rec, 4)
	l.write(1, "stdout", "hel")
	l.write(2, "stdout", "other\n")
	l.write(1, "stdout", "lo\nwor")
	l.write(1, "stderr", "e1\n")
	l.write(1, "stdout", "ld")
	l.flush()
	var got []string
	for _, s := range rec.streams {
		got = append(got, s.name+":"+s.text)
	}
	want := []string{"stdout:[2] other\n", "stdout:[1] hello\n", "stderr:[1] e1\n", "stdout:[1] world\n"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q\nwant %q", got, want)
	}
	one := &recorder{}
	newLabeller(one, 1).write(0, "stdout", "as is")
	if len(one.streams) != 1 || one.streams[0].text != "as is" {
		t.Errorf("one rank: %+v", one.streams)
	}
}

// TestLabellerShowsUnfinishedLines: a line without its newline is shown
// after partialDelay (progress dots must appear while the cell runs), its
// continuation carries no second label, and another rank's output in
// between starts a line of its own.
func TestLabellerShowsUnfinishedLines(t *testing.T) {
	rec := &lockedRecorder{}
	l := newLabeller(rec, 4)
	clock := &fakeClock{}
	l.afterFunc = clock.afterFunc
	l.write(1, "stdout", "..")
	if got := rec.texts(); got != "" {
		t.Fatalf("shown before the delay: %q", got)
	}
	clock.fire(t, partialDelay)
	if got := rec.texts(); got != "[1] .." {
		t.Fatalf("after the delay: %q", got)
	}
	l.write(1, "stdout", ". done\n")
	l.write(2, "stdout", "x")
	clock.fire(t, partialDelay)
	l.write(1, "stdout", "y\n")
	l.flush()
	if got, want := rec.texts(), "[1] ..|. done\n|[2] x|\n[1] y\n"; got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// fakeClock holds the labeller's timers until the test fires them.
type fakeClock struct {
	pending []func()
	delays  []time.Duration
}

func (c *fakeClock) afterFunc(d time.Duration, f func()) func() bool {
	i := len(c.pending)
	c.pending = append(c.pending, f)
	c.delays = append(c.delays, d)
	return func() bool {
		stopped := c.pending[i] != nil
		c.pending[i] = nil
		return stopped
	}
}

// fire runs the timers pending now, checking they were set for d.
func (c *fakeClock) fire(t *testing.T, d time.Duration) {
	t.Helper()
	fired := 0
	for i, f := range c.pending {
		if f == nil {
			continue
		}
		if c.delays[i] != d {
			t.Errorf("timer set for %v, want %v", c.delays[i], d)
		}
		c.pending[i] = nil
		f()
		fired++
	}
	if fired == 0 {
		t.Fatal("no timer pending")
	}
}

type lockedRecorder struct {
	mu sync.Mutex
	recorder
}

func (r *lockedRecorder) Stream(name, text string, md map[string]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recorder.Stream(name, text, md)
}

func (r *lockedRecorder) texts() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s []string
	for _, x := range r.streams {
		s = append(s, x.text)
	}
	return strings.Join(s, "|")
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
	l := newLabeller(rec, 4)
	l.forRank(0).Display(kernel.Display{Data: map[string]any{"text/plain": "a"}})
	l.forRank(2).Display(kernel.Display{Data: map[string]any{"text/plain": "b"}})
	l.forRank(0).Display(kernel.Display{Data: map[string]any{"text/plain": "c"}})
	l.forRank(2).Display(kernel.Display{Data: map[string]any{"text/plain": "d"}, ID: "p", Update: true})
	got := strings.Join(rec.order, "|")
	if want := "display:a|stream:[2]\n|display:b|stream:[0]\n|display:c|display:d"; got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	one := &displayRecorder{}
	newLabeller(one, 1).forRank(0).Display(kernel.Display{Data: map[string]any{"text/plain": "a"}})
	if got := strings.Join(one.order, "|"); got != "display:a" {
		t.Errorf("one rank: %q", got)
	}
}
