package tests

import (
	"regexp"
	"strconv"
	"strings"
)

// labelRe reads a labelled line: "[2] text", "[0-3,5] text".
var labelRe = regexp.MustCompile(`^\[([0-9,-]+)\] (.*)$`)

// labelRanks expands a label's ranks: "0-2,5" → {0,1,2,5}; nil if malformed.
func labelRanks(s string) map[int]bool {
	ranks := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil
			}
		}
		for r := a; r <= b; r++ {
			ranks[r] = true
		}
	}
	return ranks
}

// printedBy reports whether out shows rank printing the line text: a line
// "[RANKS] text" whose RANKS include rank. By default the output collapses
// lines that several ranks print alike, and which ranks end up on one line
// depends on how closely they printed, so tests of what one rank printed
// look for the rank in the label rather than for one spelling of it.
func printedBy(out string, rank int, text string) bool {
	return labelledMatch(out, rank, func(t string) bool { return t == text })
}

// printedByPrefix is printedBy for a line that starts with prefix.
func printedByPrefix(out string, rank int, prefix string) bool {
	return labelledMatch(out, rank, func(t string) bool { return strings.HasPrefix(t, prefix) })
}

func labelledMatch(out string, rank int, match func(string) bool) bool {
	for _, line := range strings.Split(out, "\n") {
		m := labelRe.FindStringSubmatch(line)
		if m != nil && labelRanks(m[1])[rank] && match(m[2]) {
			return true
		}
	}
	return false
}
