package kernel

import (
	"regexp"
	"strings"
	"sync"

	"github.com/gompi-kernel/gompi-kernel/jupyter"
)

// historySession is the session number in history replies. The kernel keeps
// history in memory for its own lifetime, so there is only ever the one.
const historySession = 1

// History is the kernel's record of executed cells, answering
// history_request the way IPython does (tail, range and glob search).
type History struct {
	mu      sync.Mutex
	entries []historyEntry
}

type historyEntry struct {
	line   int
	input  string
	output string // text/plain of the result, "" if none
}

// Add records cell number line.
func (h *History) Add(line int, input, output string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.entries = append(h.entries, historyEntry{line, input, output})
}

// Query returns [session, line, input] triples, or [session, line,
// [input, output]] when q.Output is set.
func (h *History) Query(q jupyter.HistoryRequest) []jupyter.HistoryEntry {
	h.mu.Lock()
	defer h.mu.Unlock()
	var sel []historyEntry
	switch q.HistAccessType {
	case "tail":
		sel = lastN(h.entries, q.N)
	case "range":
		if q.Session != 0 && q.Session != historySession && q.Session != -1 {
			// Negative sessions count back from the current one; there are no
			// earlier ones here.
			break
		}
		for _, e := range h.entries {
			if e.line >= q.Start && (q.Stop <= 0 || e.line < q.Stop) {
				sel = append(sel, e)
			}
		}
	case "search":
		pattern := q.Pattern
		if pattern == "" {
			pattern = "*"
		}
		re := globRegexp(pattern)
		seen := map[string]bool{}
		// Newest first, so that "unique" keeps the latest occurrence.
		for i := len(h.entries) - 1; i >= 0; i-- {
			e := h.entries[i]
			if !re.MatchString(e.input) {
				continue
			}
			if q.Unique {
				if seen[e.input] {
					continue
				}
				seen[e.input] = true
			}
			sel = append(sel, e)
		}
		for i, j := 0, len(sel)-1; i < j; i, j = i+1, j-1 {
			sel[i], sel[j] = sel[j], sel[i]
		}
		sel = lastN(sel, q.N)
	}
	out := make([]jupyter.HistoryEntry, 0, len(sel))
	for _, e := range sel {
		entry := jupyter.HistoryEntry{Session: historySession, Line: e.line, Input: e.input}
		if q.Output {
			entry.Output = &e.output
		}
		out = append(out, entry)
	}
	return out
}

func lastN(e []historyEntry, n int) []historyEntry {
	if n > 0 && len(e) > n {
		e = e[len(e)-n:]
	}
	return append([]historyEntry(nil), e...)
}

// globRegexp compiles a glob as SQLite's GLOB reads it (IPython searches its
// history with GLOB): * and ? match any characters, newlines and slashes
// included, and [..] is a character class.
func globRegexp(glob string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("(?s)^")
	g := []rune(glob)
	for i := 0; i < len(g); i++ {
		switch c := g[i]; c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '[':
			j := runeIndex(g[i+1:], ']')
			if j < 0 {
				b.WriteString(regexp.QuoteMeta("["))
				continue
			}
			class := string(g[i+1 : i+1+j]) // [^…] negates, as in SQLite
			b.WriteString("[" + strings.ReplaceAll(class, "\\", "\\\\") + "]")
			i += j + 1
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return regexp.MustCompile("^" + regexp.QuoteMeta(glob) + "$")
	}
	return re
}

func runeIndex(rs []rune, r rune) int {
	for i, x := range rs {
		if x == r {
			return i
		}
	}
	return -1
}
