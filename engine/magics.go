package engine

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gompi-kernel/gompi-kernel/kernel"
	"github.com/gompi-kernel/gompi-kernel/kernel/session"
)

// magic runs a cell that is a magic of its own (%who, %env, …).
func (c *Coordinator) magic(ctx context.Context, cl cell, out kernel.Output) kernel.Outcome {
	switch cl.action {
	case "help":
		out.Stream("stdout", magicHelp, nil)
	case "who":
		var b strings.Builder
		for _, w := range c.rank.Session().Who() {
			switch w.Kind {
			case "type":
				fmt.Fprintf(&b, "%-16s type\n", w.Name)
			default:
				fmt.Fprintf(&b, "%-16s %-5s %s\n", w.Name, w.Kind, w.Type)
			}
		}
		if b.Len() == 0 {
			b.WriteString("no names defined yet\n")
		}
		out.Stream("stdout", b.String(), nil)
	case "mpi_info":
		return c.ExecuteOn(ctx, "mpi.Info()", nil, out)
	case "env":
		return c.env(ctx, cl.args, out)
	case "go":
		return c.goMagic(ctx, cl.args, out)
	case "output":
		c.mu.Lock()
		if len(cl.args) == 1 {
			c.output = outputCollapsed
			if cl.args[0] == "ranks" {
				c.output = outputRanks
			}
		}
		mode := c.output
		c.mu.Unlock()
		out.Stream("stdout", fmt.Sprintf("output: %s\n", mode), nil)
	case "reset":
		if err := c.Reset(ctx); err != nil {
			return kernel.Outcome{Err: &session.Error{Name: "KernelError", Value: fmt.Sprintf("reset: %v", err)}}
		}
		out.Stream("stdout", fmt.Sprintf("fresh interpreter on %d rank(s)\n", c.fabric.Size()), nil)
	}
	return kernel.Outcome{}
}

// env is %env: show rank 0's environment, one variable, or set one on
// every rank.
func (c *Coordinator) env(ctx context.Context, args []string, out kernel.Output) kernel.Outcome {
	// The cells' environment is the interpreter's (yaegi keeps its own
	// copy), so it is read through a cell on rank 0.
	switch {
	case len(args) == 0:
		return c.ExecuteOn(ctx, "for _, kv := range os.Environ() { fmt.Println(kv) }", []int{0}, out)
	case len(args) == 1 && !strings.Contains(args[0], "="):
		return c.ExecuteOn(ctx, fmt.Sprintf("fmt.Println(os.Getenv(%s))", strconv.Quote(args[0])), []int{0}, out)
	default:
		name, value, _ := strings.Cut(strings.Join(args, " "), "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if name == "" {
			return kernel.Outcome{Err: &session.Error{Name: "UsageError", Value: "usage: %env NAME=value"}}
		}
		code := fmt.Sprintf("if err := os.Setenv(%s, %s); err != nil { panic(err) }", strconv.Quote(name), strconv.Quote(value))
		res := c.ExecuteOn(ctx, code, nil, out)
		if res.Err == nil {
			out.Stream("stdout", fmt.Sprintf("env: %s=%s on every rank\n", name, value), nil)
		}
		return res
	}
}

// wallTimes is %time's report: each rank's wall time, the slowest named.
// Above listAllTimes ranks a line per rank would no longer read; the
// report then gives the median, the fastest and the slowest rank.
func wallTimes(seconds []float64) string {
	var ran []int // the ranks that ran the cell
	for r, s := range seconds {
		if s >= 0 {
			ran = append(ran, r)
		}
	}
	if len(ran) == 0 {
		return "Wall time: -\n"
	}
	slowest, fastest := ran[0], ran[0]
	for _, r := range ran {
		if seconds[r] > seconds[slowest] {
			slowest = r
		}
		if seconds[r] < seconds[fastest] {
			fastest = r
		}
	}
	if len(ran) > listAllTimes {
		sorted := make([]float64, 0, len(ran))
		for _, r := range ran {
			sorted = append(sorted, seconds[r])
		}
		slices.Sort(sorted)
		median := sorted[len(sorted)/2]
		if len(sorted)%2 == 0 {
			median = (sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2
		}
		return fmt.Sprintf("Wall time on %d ranks: median %v; fastest: rank %d (%v); slowest: rank %d (%v)\n",
			len(ran), round(median), fastest, round(seconds[fastest]), slowest, round(seconds[slowest]))
	}
	var b strings.Builder
	b.WriteString("Wall time:")
	for _, r := range ran {
		fmt.Fprintf(&b, " [%d] %v", r, round(seconds[r]))
	}
	if len(seconds) > 1 {
		fmt.Fprintf(&b, "; slowest: rank %d (%v)", slowest, round(seconds[slowest]))
	}
	b.WriteString("\n")
	return b.String()
}

// listAllTimes is the most ranks whose wall times %time lists one by one.
const listAllTimes = 8

func round(s float64) time.Duration {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
