package engine

import (
	"sort"
	"strings"
	"time"
)

// collapseDelay is the longest a whole line waits, in collapsed mode, for
// the other ranks' lines at the same place. Ranks seldom print in step: 64
// ranks on a few cores print the "same" line over tens of milliseconds.
// Waiting longer would make live output look stuck; lines are shown at
// once when every rank running the cell has printed its line there.
const collapseDelay = 100 * time.Millisecond

// lineQueue holds one stream's whole lines in collapsed mode. Lines are
// matched by place: the k-th line of every rank goes into slot k, and the
// ranks whose k-th lines read the same are shown once ("[0-3] start",
// then "[0] x=1", "[1] x=2", …, then "[0-3] done"). Slots are shown in
// order, so each rank's lines keep theirs. A rank that comes to slot k
// after it was shown (it lagged by more than collapseDelay) starts a new
// slot k at the end, which the other laggards join.
type lineQueue struct {
	slots  []*lineSlot
	byLine map[int][]*lineSlot // waiting slots by line number, in seq order
	lineNo map[int]int         // rank -> number of its next line
	next   map[int]uint64      // rank -> first slot seq its next line may join
	seq    uint64              // of the next new slot
	armed  *lineSlot           // the head whose timer runs
	stop   func() bool         // stops that timer
}

// lineSlot is the k-th line of the ranks in it, grouped by text.
type lineSlot struct {
	seq     uint64
	k       int
	groups  []*lineGroup
	members int       // ranks running the cell that have a line here
	at      time.Time // when its first line came
}

type lineGroup struct {
	text  string // the line, with its newline
	ranks []int
}

// queue returns the stream's lineQueue. l.mu is held.
func (l *labeller) queue(name string) *lineQueue {
	q := l.queues[name]
	if q == nil {
		q = &lineQueue{byLine: map[int][]*lineSlot{}, lineNo: map[int]int{}, next: map[int]uint64{}}
		l.queues[name] = q
	}
	return q
}

// add puts rank's next line in its slot: the first waiting slot of that
// line number it may join, or a new one at the end.
func (q *lineQueue) add(rank int, line string, member bool, now time.Time) {
	k := q.lineNo[rank]
	q.lineNo[rank] = k + 1
	var s *lineSlot
	for _, t := range q.byLine[k] {
		if t.seq >= q.next[rank] {
			s = t
			break
		}
	}
	if s == nil {
		s = &lineSlot{seq: q.seq, k: k, at: now}
		q.seq++
		q.slots = append(q.slots, s)
		q.byLine[k] = append(q.byLine[k], s)
	}
	q.next[rank] = s.seq + 1
	if member {
		s.members++
	}
	for _, g := range s.groups {
		if g.text == line {
			g.ranks = append(g.ranks, rank)
			return
		}
	}
	s.groups = append(s.groups, &lineGroup{text: line, ranks: []int{rank}})
}

// release shows the slots at the head of q that are ready: every rank
// running the cell has a line there, or (expired) the slot has waited
// collapseDelay. Then it arms the timer for the new head. l.mu is held.
func (l *labeller) release(name string, q *lineQueue, expired bool) {
	now := l.clock.now()
	n := 0
	for ; n < len(q.slots); n++ {
		s := q.slots[n]
		due := expired && !now.Before(s.at.Add(collapseDelay))
		if s.members < l.members && !due {
			break
		}
	}
	l.show(name, q, n)
	l.arm(name, q)
}

// drain shows every slot of the stream now. l.mu is held.
func (l *labeller) drain(name string) {
	if q := l.queues[name]; q != nil {
		l.show(name, q, len(q.slots))
		l.arm(name, q)
	}
}

// show publishes the first n slots of q as one stream message, each slot's
// groups in the order of their lowest rank.
func (l *labeller) show(name string, q *lineQueue, n int) {
	if n == 0 {
		return
	}
	var b strings.Builder
	if _, ok := l.open[name]; ok {
		b.WriteByte('\n') // end a rank's unfinished line
		delete(l.open, name)
	}
	for _, s := range q.slots[:n] {
		for _, g := range s.groups {
			sort.Ints(g.ranks)
		}
		sort.Slice(s.groups, func(i, j int) bool { return s.groups[i].ranks[0] < s.groups[j].ranks[0] })
		for _, g := range s.groups {
			b.WriteByte('[')
			b.WriteString(rankRange(g.ranks))
			b.WriteString("] ")
			b.WriteString(g.text)
		}
		if same := q.byLine[s.k]; len(same) == 1 {
			delete(q.byLine, s.k)
		} else {
			q.byLine[s.k] = same[1:] // slots leave in seq order
		}
	}
	var md map[string]any // the rank, where the message is one rank's line
	if g := q.slots[0].groups; n == 1 && len(g) == 1 && len(g[0].ranks) == 1 {
		md = map[string]any{"rank": g[0].ranks[0]}
	}
	clear(q.slots[:n])
	q.slots = q.slots[n:]
	l.out.Stream(name, b.String(), md)
}

// arm keeps one timer running for q's head slot. l.mu is held.
func (l *labeller) arm(name string, q *lineQueue) {
	var head *lineSlot
	if len(q.slots) > 0 {
		head = q.slots[0]
	}
	if q.armed == head {
		return
	}
	if q.stop != nil {
		q.stop()
		q.stop = nil
	}
	q.armed = head
	if head == nil {
		return
	}
	d := head.at.Add(collapseDelay).Sub(l.clock.now())
	q.stop = l.clock.afterFunc(max(d, 0), func() { l.expire(name, head) })
}

// expire is the head's timer: it shows what has waited long enough.
func (l *labeller) expire(name string, head *lineSlot) {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := l.queues[name]
	if q == nil || q.armed != head {
		return // shown meanwhile
	}
	q.armed, q.stop = nil, nil
	l.release(name, q, true)
}
