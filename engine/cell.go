package engine

import (
	"fmt"
	"strconv"
	"strings"
)

// cell is a cell with its magic lines taken off.
type cell struct {
	code   string
	ranks  []int  // nil: every rank
	time   bool   // %time / %%time: report each rank's wall time
	action string // a magic that replaces the cell: "help", "who", "mpi_info", "env", "reset", "output"
	args   []string

	// compile: a %%compile cell, built into a plugin and loaded on every
	// rank (engine/compiled.go).
	compile bool
}

// magicHelp is what %help prints.
const magicHelp = `Magics (on a cell's first lines):
  %%rank0            run the cell on rank 0 only; the other ranks serve mpi.Call
  %%ranks 0,2-3      run the cell on these ranks; the others serve mpi.Call
  %%compile          the cell's declarations (funcs, types, consts, vars) compiled
                     with the go command and loaded on every rank; later cells call them
  %go get MOD@VER    pin a module version for imports and %%compile cells
  %go replace MOD => DIR
                     build module MOD from the local directory DIR
  %time, %%time      run the cell and report each rank's wall time, naming the slowest
  %who               names defined by cells, with their types
  %mpi_info          one line per rank: host, pid, Go and MPI versions, managed objects
  %env               the environment of rank 0; %env NAME shows one variable,
                     %env NAME=value sets it on every rank
  %reset             a fresh interpreter on every rank (managed objects stay)
  %output collapsed  a line several ranks print alike is shown once: [0-3] text (default)
  %output ranks      every rank's line with its own label, shown at once; %output alone
                     says which is in force
  %help              this text
Also: name? shows the documentation of name; exit or quit leaves a console.
`

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
		case "%time", "%%time":
			c.time = true
		case "%help", "%who", "%mpi_info", "%env", "%reset", "%go", "%output":
			c.action = strings.TrimPrefix(fields[0], "%")
			c.args = fields[1:]
			if c.action == "output" && (len(c.args) > 1 || len(c.args) == 1 && c.args[0] != "collapsed" && c.args[0] != "ranks") {
				return c, fmt.Errorf("usage: %%output collapsed|ranks")
			}
			if c.action != "env" && c.action != "go" && c.action != "output" && len(c.args) > 0 {
				return c, fmt.Errorf("%s takes no arguments", fields[0])
			}
			if strings.TrimSpace(rest) != "" {
				return c, fmt.Errorf("%s stands alone in its cell", fields[0])
			}
			return c, nil
		case "%%compile":
			if len(fields) > 1 {
				return c, fmt.Errorf("%%%%compile takes no arguments")
			}
			c.compile = true
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
			return c, fmt.Errorf("unknown magic %s; %%help lists the magics", fields[0])
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
