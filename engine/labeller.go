package engine

import (
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gompi-kernel/gompi-kernel/kernel"
)

// partialDelay is how long an unfinished line (a progress "." printed
// without a newline) waits for the rest of its line before it is shown
// anyway: output must reach the frontend while the cell runs.
const partialDelay = 100 * time.Millisecond

// outputMode says how the lines of several ranks are shown (%output).
type outputMode int

const (
	// outputCollapsed shows a line that several ranks printed alike once,
	// labelled with their ranks ("[0-63] converged"): at 16 ranks and more
	// one line per rank is a wall nobody reads. The default.
	outputCollapsed outputMode = iota
	// outputRanks shows every rank's line with its own label, at once.
	outputRanks
)

func (m outputMode) String() string {
	if m == outputRanks {
		return "ranks"
	}
	return "collapsed"
}

// clock is what the labeller needs of time; tests give it a fake one and
// fire its timers themselves instead of sleeping.
type clock interface {
	now() time.Time
	afterFunc(d time.Duration, f func()) (stop func() bool)
}

type realClock struct{}

func (realClock) now() time.Time { return time.Now() }
func (realClock) afterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// labeller turns the output chunks of N ranks into stream messages in which
// every line says which ranks printed it ("[2] text", "[0-3] text"). It
// buffers per rank and stream up to the last newline, so that a line split
// across chunks, or interleaved with another rank's output, is still
// labelled once and whole. An unfinished line is shown after partialDelay;
// its continuation then carries no second label, unless another rank's
// output came in between. In collapsed mode whole lines wait in a lineQueue
// (collapse.go) for the other ranks' matching lines. With one rank there is
// nothing to tell apart and text passes unchanged.
type labeller struct {
	out     kernel.Output
	size    int
	mode    outputMode
	runs    []bool // the ranks that run the cell: a line all of them printed is shown at once
	members int
	clock   clock

	mu      sync.Mutex
	partial map[streamKey]string
	timers  map[streamKey]func() bool // stops the pending showPartial
	open    map[string]int            // stream name -> rank whose line is shown unfinished
	shown   map[int]bool              // ranks that displayed rich output in this cell
	queues  map[string]*lineQueue     // collapsed mode: whole lines waiting, by stream
}

type streamKey struct {
	rank int
	name string
}

// newLabeller labels the output of len(runs) ranks, runs[r] saying whether
// rank r runs the cell.
func newLabeller(out kernel.Output, runs []bool, mode outputMode) *labeller {
	l := &labeller{out: out, size: len(runs), mode: mode, runs: runs, clock: realClock{},
		partial: map[streamKey]string{}, timers: map[streamKey]func() bool{},
		open: map[string]int{}, queues: map[string]*lineQueue{}}
	for _, r := range runs {
		if r {
			l.members++
		}
	}
	return l
}

// forRank is the Output through which rank's output reaches the frontend:
// streams labelled, rich output tagged with the rank, text printed before a
// display, a clear or a prompt shown above it.
func (l *labeller) forRank(rank int) kernel.Output { return rankOutput{l, rank} }

type rankOutput struct {
	l    *labeller
	rank int
}

func (o rankOutput) Stream(name, text string, _ map[string]any) { o.l.write(o.rank, name, text) }

func (o rankOutput) Display(d kernel.Display) {
	o.l.flush()
	md := make(map[string]any, len(d.Metadata)+1)
	for k, v := range d.Metadata {
		md[k] = v
	}
	md["rank"] = o.rank
	d.Metadata = md
	// Deciding on the label, the label and the output go out together:
	// another rank's label must not come between a decision and its
	// output (rank 0's unlabelled output after a "[1]" would read as rank
	// 1's).
	o.l.mu.Lock()
	defer o.l.mu.Unlock()
	if o.l.attribute(o.rank, d) {
		// A small line names the rank, as ipyparallel's [output:2]; the
		// metadata lets a terminal that labels rich output itself skip it.
		o.l.out.Stream("stdout", "["+strconv.Itoa(o.rank)+"]\n", map[string]any{"rank": o.rank, "attribution": true})
	}
	o.l.out.Display(d)
}

func (o rankOutput) Clear(wait bool) {
	o.l.flush()
	o.l.out.Clear(wait)
}

func (o rankOutput) Input(prompt string, password bool) (string, error) {
	o.l.flush()
	return o.l.out.Input(prompt, password)
}

// write takes a chunk of rank's stdout or stderr.
func (l *labeller) write(rank int, name, text string) {
	if l.size == 1 {
		l.out.Stream(name, text, nil)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	k := streamKey{rank, name}
	buf := l.partial[k] + text
	if i := strings.LastIndexByte(buf, '\n'); i >= 0 {
		l.lines(k, buf[:i+1])
		buf = buf[i+1:]
	}
	l.partial[k] = buf
	switch stop := l.timers[k]; {
	case buf != "" && stop == nil:
		l.timers[k] = l.clock.afterFunc(partialDelay, func() { l.showPartial(k) })
	case buf == "" && stop != nil: // the line was finished in time
		stop()
		delete(l.timers, k)
	}
}

// lines takes whole lines of k: at once in ranks mode, through the stream's
// queue in collapsed mode. The continuation of k's line shown unfinished
// goes out at once in either mode, since its label is already shown.
// l.mu is held.
func (l *labeller) lines(k streamKey, text string) {
	if l.mode == outputRanks {
		l.publish(k, text)
		return
	}
	if r, ok := l.open[k.name]; ok && r == k.rank {
		i := strings.IndexByte(text, '\n')
		l.publish(k, text[:i+1])
		text = text[i+1:]
	}
	q := l.queue(k.name)
	for text != "" {
		i := strings.IndexByte(text, '\n')
		q.add(k.rank, text[:i+1], k.rank < len(l.runs) && l.runs[k.rank], l.clock.now())
		text = text[i+1:]
	}
	l.release(k.name, q, false)
}

// showPartial shows k's unfinished line, as it stands, after the rank's
// whole lines that still wait.
func (l *labeller) showPartial(k streamKey) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.timers, k)
	if p := l.partial[k]; p != "" {
		l.drain(k.name)
		l.publish(k, p)
		l.partial[k] = ""
	}
}

// flush publishes every waiting and unfinished line and ends it with a
// newline, so that the next cell's output starts on a line of its own.
func (l *labeller) flush() {
	if l.size == 1 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	names := make([]string, 0, len(l.queues))
	for name := range l.queues {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		l.drain(name)
	}
	keys := make([]streamKey, 0, len(l.partial))
	for k, v := range l.partial {
		if v != "" {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].rank != keys[j].rank {
			return keys[i].rank < keys[j].rank
		}
		return keys[i].name < keys[j].name
	})
	for _, k := range keys {
		l.publish(k, l.partial[k]+"\n")
		delete(l.partial, k)
	}
	for k, stop := range l.timers {
		stop()
		delete(l.timers, k)
	}
	for name, rank := range l.open {
		l.out.Stream(name, "\n", map[string]any{"rank": rank})
		delete(l.open, name)
	}
}

// publish labels each line of text. text may end without a newline: that
// line stays open, and a continuation from the same rank goes on without a
// new label. l.mu is held.
func (l *labeller) publish(k streamKey, text string) {
	label := "[" + strconv.Itoa(k.rank) + "] "
	var b strings.Builder
	b.Grow(len(text) + len(label)*(strings.Count(text, "\n")+1))
	continuing := false
	if r, ok := l.open[k.name]; ok {
		if r == k.rank {
			continuing = true
		} else {
			b.WriteByte('\n') // end the other rank's unfinished line
		}
		delete(l.open, k.name)
	}
	for text != "" {
		i := strings.IndexByte(text, '\n')
		if !continuing {
			b.WriteString(label)
		}
		continuing = false
		if i < 0 {
			b.WriteString(text)
			l.open[k.name] = k.rank
			break
		}
		b.WriteString(text[:i+1])
		text = text[i+1:]
	}
	l.out.Stream(k.name, b.String(), map[string]any{"rank": k.rank})
}

// attribute says whether rich output from rank needs a line naming it: it
// does when it comes from a rank other than 0, or from rank 0 once another
// rank has shown some in this cell. What rank 0 alone shows is unchanged,
// and an update replaces output already attributed. l.mu is held.
func (l *labeller) attribute(rank int, d kernel.Display) bool {
	if l.size == 1 || d.Update {
		return false
	}
	if l.shown == nil {
		l.shown = map[int]bool{}
	}
	l.shown[rank] = true
	return rank != 0 || len(l.shown) > 1
}

// rankRange names ranks compactly, ascending: "2", "0-3", "1,3,5-7".
func rankRange(ranks []int) string {
	var b strings.Builder
	for i := 0; i < len(ranks); {
		j := i
		for j+1 < len(ranks) && ranks[j+1] == ranks[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(ranks[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(ranks[j]))
		}
		i = j + 1
	}
	return b.String()
}
