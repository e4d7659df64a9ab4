package engine

import (
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gompi-kernel/gompi-kernel/kernel"
)

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

// allRun says that all n ranks run the cell.
func allRun(n int) []bool {
	runs := make([]bool, n)
	for i := range runs {
		runs[i] = true
	}
	return runs
}

func TestLabellerKeepsLinesWhole(t *testing.T) {
	rec := &recorder{}
	l := newLabeller(rec, allRun(4), outputRanks)
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
	for _, mode := range []outputMode{outputRanks, outputCollapsed} {
		one := &recorder{}
		newLabeller(one, allRun(1), mode).write(0, "stdout", "as is")
		if len(one.streams) != 1 || one.streams[0].text != "as is" {
			t.Errorf("one rank, %v: %+v", mode, one.streams)
		}
	}
}

// TestLabellerShowsUnfinishedLines: a line without its newline is shown
// after partialDelay (progress dots must appear while the cell runs), its
// continuation carries no second label, and another rank's output in
// between starts a line of its own. The same in both modes: in collapsed
// mode the whole line "y" of rank 1 waits for the other ranks' first lines
// until the flush.
func TestLabellerShowsUnfinishedLines(t *testing.T) {
	for _, mode := range []outputMode{outputRanks, outputCollapsed} {
		rec := &lockedRecorder{}
		l := newLabeller(rec, allRun(4), mode)
		clock := newFakeClock()
		l.clock = clock
		l.write(1, "stdout", "..")
		clock.advance(partialDelay - time.Millisecond)
		if got := rec.texts(); got != "" {
			t.Fatalf("%v: shown before the delay: %q", mode, got)
		}
		clock.advance(time.Millisecond)
		if got := rec.texts(); got != "[1] .." {
			t.Fatalf("%v: after the delay: %q", mode, got)
		}
		l.write(1, "stdout", ". done\n")
		l.write(2, "stdout", "x")
		clock.advance(partialDelay)
		l.write(1, "stdout", "y\n")
		l.flush()
		if got, want := rec.texts(), "[1] ..|. done\n|[2] x|\n[1] y\n"; got != want {
			t.Errorf("%v: got %q\nwant %q", mode, got, want)
		}
	}
}

// TestLabellerCollapses: at 64 ranks a line all of them print is shown
// once, as soon as the last one's arrives; lines that differ keep their own
// label, in rank order, between the shared lines around them.
func TestLabellerCollapses(t *testing.T) {
	rec := &lockedRecorder{}
	l := newLabeller(rec, allRun(64), outputCollapsed)
	clock := newFakeClock()
	l.clock = clock
	for r := 63; r >= 1; r-- {
		l.write(r, "stdout", "converged\n")
	}
	if got := rec.texts(); got != "" {
		t.Fatalf("shown before every rank printed it: %q", got)
	}
	l.write(0, "stdout", "conv")
	l.write(0, "stdout", "erged\n")
	if got := rec.texts(); got != "[0-63] converged\n" {
		t.Fatalf("64 alike lines: %q", got)
	}
	rec.reset()
	for r := 3; r >= 0; r-- {
		l.write(r, "stdout", "x = "+string(rune('0'+r%2))+"\n")
	}
	for r := 4; r < 64; r++ {
		l.write(r, "stdout", "x = 0\n")
	}
	if got, want := rec.texts(), "[0,2,4-63] x = 0\n[1,3] x = 1\n"; got != want {
		t.Errorf("two kinds of line: got %q, want %q", got, want)
	}
	if clock.pending() != 0 {
		t.Errorf("%d timers left running", clock.pending())
	}
}

// TestLabellerHoldsBriefly: a line that not every rank prints is shown
// collapseDelay after it came, with the ranks that printed it by then; each
// rank's lines keep their order, and a rank that comes late to a line that
// was already shown gets a line of its own.
func TestLabellerHoldsBriefly(t *testing.T) {
	rec := &lockedRecorder{}
	l := newLabeller(rec, allRun(4), outputCollapsed)
	clock := newFakeClock()
	l.clock = clock
	for r := 0; r < 3; r++ {
		l.write(r, "stdout", "start\nstep "+string(rune('0'+r))+"\n")
	}
	clock.advance(collapseDelay - time.Millisecond)
	if got := rec.texts(); got != "" {
		t.Fatalf("shown before collapseDelay: %q", got)
	}
	l.write(1, "stdout", "done\n")
	l.write(0, "stdout", "done\n")
	clock.advance(time.Millisecond)
	if got, want := rec.texts(), "[0-2] start\n[0] step 0\n[1] step 1\n[2] step 2\n"; got != want {
		t.Fatalf("after collapseDelay: got %q, want %q", got, want)
	}
	rec.reset()
	l.write(3, "stdout", "start\nstep 3\ndone\n") // the laggard
	l.write(2, "stdout", "done\n")
	clock.advance(collapseDelay)
	if got, want := rec.texts(), "[0-2] done\n[3] start\n[3] step 3\n[3] done\n"; got != want {
		t.Errorf("laggard: got %q, want %q", got, want)
	}
}

// TestLabellerCollapsedOrder: whatever the interleaving of chunks, every
// rank's lines reach the frontend whole and in the order it printed them.
func TestLabellerCollapsedOrder(t *testing.T) {
	rec := &lockedRecorder{}
	l := newLabeller(rec, allRun(3), outputCollapsed)
	clock := newFakeClock()
	l.clock = clock
	lines := map[int][]string{
		0: {"a", "b", "c", "d"},
		1: {"a", "c", "b", "d"},
		2: {"b", "a", "d", "c"},
	}
	for i := 0; i < 4; i++ {
		for r := 0; r < 3; r++ {
			l.write(r, "stdout", lines[r][i]+"\n")
			if i == 2 && r == 1 {
				clock.advance(collapseDelay)
			}
		}
	}
	l.flush()
	got := map[int][]string{}
	for _, line := range strings.Split(strings.TrimSuffix(strings.ReplaceAll(rec.texts(), "|", ""), "\n"), "\n") {
		label, text, _ := strings.Cut(line, " ")
		for _, r := range parseLabel(t, label) {
			got[r] = append(got[r], text)
		}
	}
	for r, want := range lines {
		if strings.Join(got[r], "") != strings.Join(want, "") {
			t.Errorf("rank %d: lines %v, printed %v\n%s", r, got[r], want, rec.texts())
		}
	}
}

// parseLabel reads "[0-2,5]" into [0 1 2 5].
func parseLabel(t *testing.T, label string) []int {
	t.Helper()
	inner := strings.TrimSuffix(strings.TrimPrefix(label, "["), "]")
	ranks, err := parseRanks(inner, 1<<20)
	if err != nil || len(label) < 3 {
		t.Fatalf("label %q: %v", label, err)
	}
	sort.Ints(ranks)
	return ranks
}

// slowDisplayRecorder records what reaches the frontend when it has arrived;
// rank 0's display takes a while to get there.
type slowDisplayRecorder struct {
	mu      sync.Mutex
	got     []string
	entered chan struct{}
}

func (r *slowDisplayRecorder) add(s string) {
	r.mu.Lock()
	r.got = append(r.got, s)
	r.mu.Unlock()
}
func (r *slowDisplayRecorder) Stream(_, text string, _ map[string]any) {
	r.add(strings.TrimSpace(text))
}
func (r *slowDisplayRecorder) Display(d kernel.Display) {
	if d.Metadata["rank"] == 0 {
		close(r.entered)
		time.Sleep(50 * time.Millisecond)
	}
	r.add(d.Data["text/plain"].(string))
}
func (r *slowDisplayRecorder) Clear(bool)                         {}
func (r *slowDisplayRecorder) Input(string, bool) (string, error) { return "", nil }

// TestLabellerDisplayAttribution: a rank's label line and its rich output
// reach the frontend together; rank 0's output, decided unlabelled, is not
// preceded by another rank's label, however slow it is to go out.
func TestLabellerDisplayAttribution(t *testing.T) {
	rec := &slowDisplayRecorder{entered: make(chan struct{})}
	l := newLabeller(rec, allRun(2), outputCollapsed)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.forRank(0).Display(kernel.Display{Data: map[string]any{"text/plain": "html 0"}})
	}()
	<-rec.entered
	l.forRank(1).Display(kernel.Display{Data: map[string]any{"text/plain": "html 1"}})
	wg.Wait()
	if got, want := strings.Join(rec.got, "|"), "html 0|[1]|html 1"; got != want {
		t.Errorf("frontend got %s, want %s", got, want)
	}
}

func TestRankRange(t *testing.T) {
	for _, tc := range []struct {
		in   []int
		want string
	}{
		{[]int{2}, "2"}, {[]int{0, 1, 2, 3}, "0-3"}, {[]int{0, 1, 2, 3, 5}, "0-3,5"}, {[]int{1, 3, 5, 6, 7}, "1,3,5-7"},
	} {
		if got := rankRange(tc.in); got != tc.want {
			t.Errorf("rankRange(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// fakeClock holds the labeller's timers until the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	due  time.Time
	f    func()
	dead bool
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1e9, 0)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) afterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	tm := &fakeTimer{due: c.t.Add(d), f: f}
	c.timers = append(c.timers, tm)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		live := !tm.dead
		tm.dead = true
		return live
	}
}

// advance moves the clock on by d and runs the timers due by then, in
// order, including those they set that are due too.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *fakeTimer
		for _, tm := range c.timers {
			if !tm.dead && !tm.due.After(c.t) && (next == nil || tm.due.Before(next.due)) {
				next = tm
			}
		}
		if next != nil {
			next.dead = true
		}
		c.mu.Unlock()
		if next == nil {
			return
		}
		next.f()
	}
}

// pending counts the timers neither fired nor stopped.
func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, tm := range c.timers {
		if !tm.dead {
			n++
		}
	}
	return n
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

func (r *lockedRecorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.streams = nil
}
