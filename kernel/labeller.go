package kernel

import (
	"sort"
	"strconv"
	"strings"
	"sync"
)

// labeller turns the output chunks of N ranks into stream messages in which
// every line says which rank printed it ("[2] text"). It buffers per rank
// and stream up to the last newline, so that a line split across chunks, or
// interleaved with another rank's output, is still labelled once and whole.
// With one rank there is nothing to tell apart and text passes unchanged.
type labeller struct {
	out  Output
	size int

	mu      sync.Mutex
	partial map[streamKey]string
}

type streamKey struct {
	rank int
	name string
}

func newLabeller(out Output, size int) *labeller {
	return &labeller{out: out, size: size, partial: map[streamKey]string{}}
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
	i := strings.LastIndexByte(buf, '\n')
	if i < 0 {
		l.partial[k] = buf
		return
	}
	l.partial[k] = buf[i+1:]
	l.publish(k, buf[:i+1])
}

// flush publishes every unfinished line, ending it with a newline so the
// label of the next output starts a line of its own.
func (l *labeller) flush() {
	if l.size == 1 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
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
}

// publish labels each line of lines (which ends in a newline).
func (l *labeller) publish(k streamKey, lines string) {
	label := "[" + strconv.Itoa(k.rank) + "] "
	var b strings.Builder
	b.Grow(len(lines) + len(label)*(strings.Count(lines, "\n")))
	for len(lines) > 0 {
		i := strings.IndexByte(lines, '\n')
		b.WriteString(label)
		b.WriteString(lines[:i+1])
		lines = lines[i+1:]
	}
	l.out.Stream(k.name, b.String(), map[string]any{"rank": k.rank})
}
