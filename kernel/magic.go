package kernel

import (
	"fmt"
	"strconv"
	"strings"
)

// cell is a cell with its magic lines taken off.
type cell struct {
	code  string
	ranks []int // nil: every rank
}

// parseCell reads the magic lines at the top of a cell. A Go line never
// starts with '%', so there is no ambiguity:
//
//	%%rank0          run on rank 0 only; the other ranks serve mpi.Call
//	%%ranks 0,2-3    run on these ranks; the others serve mpi.Call
func parseCell(code string, size int) (cell, error) {
	c := cell{code: code}
	for {
		trimmed := strings.TrimLeft(c.code, " \t\r\n")
		if !strings.HasPrefix(trimmed, "%") {
			return c, nil
		}
		line, rest, _ := strings.Cut(trimmed, "\n")
		fields := strings.Fields(line)
		// Keep the line count, so that error positions still match the
		// cell as the user sees it.
		c.code = "\n" + rest
		switch fields[0] {
		case "%%rank0":
			if len(fields) > 1 {
				return c, fmt.Errorf("%%%%rank0 takes no arguments (did you mean %%%%ranks %s?)", strings.Join(fields[1:], " "))
			}
			c.ranks = []int{0}
		case "%%ranks":
			if len(fields) != 2 {
				return c, fmt.Errorf("usage: %%%%ranks LIST, e.g. %%%%ranks 0,2-3")
			}
			r, err := parseRanks(fields[1], size)
			if err != nil {
				return c, err
			}
			c.ranks = r
		default:
			return c, fmt.Errorf("unknown magic %s (known: %%%%rank0, %%%%ranks LIST)", fields[0])
		}
	}
}

// parseRanks reads "0,2-3" into [0 2 3], checking each rank is in [0,size).
func parseRanks(s string, size int) ([]int, error) {
	seen := map[int]bool{}
	var out []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("%%%%ranks: %q is not a rank", part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("%%%%ranks: %q is not a range", part)
			}
		}
		for r := a; r <= b; r++ {
			if r < 0 || r >= size {
				return nil, fmt.Errorf("%%%%ranks: rank %d out of range [0,%d)", r, size)
			}
			if !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	return out, nil
}
