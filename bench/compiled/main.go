// Command compiled measures %%compile cells: code compiled into a plugin
// and called from interpreted cells, against the same code built with
// go build, at 1 rank or under mpirun. It also measures a plugin's build
// (warm, cached) and its load on every rank. It prints a table on rank 0;
// nothing is asserted.
//
//	go run ./bench/compiled                                     # 1 rank (MPI singleton)
//	go build -o /tmp/bc ./bench/compiled && OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
//	    mpirun -n 4 --oversubscribe --bind-to none /tmp/bc      # 4 ranks
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/traefik/yaegi/interp"

	"github.com/gompi-kernel/gompi-kernel/compile"
	"github.com/gompi-kernel/gompi-kernel/kernel/display"
	"github.com/gompi-kernel/gompi-kernel/kernel/session"
	"github.com/gompi-kernel/gompi-kernel/mpi"
)

// cell is the %%compile cell measured: a 3-point stencil, fib and a heat
// time loop with halo exchange through the kernel's mpi.
const cell = `
// Step is one sweep of a 1-D three-point stencil.
func Step(u, v []float64) {
	for i := 1; i < len(u)-1; i++ {
		v[i] = 0.25*u[i-1] + 0.5*u[i] + 0.25*u[i+1]
	}
}

func Fib(n int) int {
	if n < 2 {
		return n
	}
	return Fib(n-1) + Fib(n-2)
}

// Heat runs steps of explicit heat diffusion on this rank's part of a rod
// (u has one ghost cell at each end), exchanging ghosts with neighbours.
func Heat(u []float64, steps int) float64 {
	v := make([]float64, len(u))
	r, n := mpi.Rank(), mpi.Size()
	for s := 0; s < steps; s++ {
		if r > 0 {
			if _, err := mpi.Sendrecv(u[1:2], r-1, 0, u[0:1], r-1, 1); err != nil {
				panic(err)
			}
		}
		if r < n-1 {
			if _, err := mpi.Sendrecv(u[len(u)-2:len(u)-1], r+1, 1, u[len(u)-1:], r+1, 0); err != nil {
				panic(err)
			}
		}
		Step(u, v)
		v[0], v[len(v)-1] = u[0], u[len(u)-1]
		u, v = v, u
	}
	return u[len(u)/2]
}
`

// The same code, built with go build into this binary.

func step(u, v []float64) {
	for i := 1; i < len(u)-1; i++ {
		v[i] = 0.25*u[i-1] + 0.5*u[i] + 0.25*u[i+1]
	}
}

func fib(n int) int {
	if n < 2 {
		return n
	}
	return fib(n-1) + fib(n-2)
}

func heat(w *mpi.World, u []float64, steps int) float64 {
	v := make([]float64, len(u))
	r, n := w.Rank(), w.Size()
	for s := 0; s < steps; s++ {
		if r > 0 {
			if _, err := w.Sendrecv(u[1:2], r-1, 0, u[0:1], r-1, 1); err != nil {
				panic(err)
			}
		}
		if r < n-1 {
			if _, err := w.Sendrecv(u[len(u)-2:len(u)-1], r+1, 1, u[len(u)-1:], r+1, 0); err != nil {
				panic(err)
			}
		}
		step(u, v)
		v[0], v[len(v)-1] = u[0], u[len(u)-1]
		u, v = v, u
	}
	return u[len(u)/2]
}

type discard struct{}

func (discard) Display(_, _ map[string]any, _ string, _ bool) {}
func (discard) Clear(bool)                                    {}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/compiled:", err)
		os.Exit(1)
	}
}

func run() error {
	reps := flag.Int("reps", 5, "repetitions (the median counts)")
	interpToo := flag.Bool("interp", false, "also time the interpreted stencil and fib (seconds each)")
	cache := flag.String("cache", "", "plugin cache directory (default: the user cache dir)")
	flag.Parse()
	// Loader.Bind points os.Stdout at the session's capture (so that
	// compiled code's output reaches cells): the report goes here.
	out := os.Stdout
	if err := mpi.Init(); err != nil {
		return err
	}
	defer mpi.Finalize()
	w, err := mpi.NewWorld(mpi.WorldComm())
	if err != nil {
		return err
	}
	rank, size := w.Rank(), w.Size()
	x := interp.Exports{
		"gompi/mpi/mpi":         w.Symbols(),
		"gompi/display/display": display.New(discard{}).Symbols(),
	}
	ctx := context.Background()
	report := map[string]string{}

	// Build on rank 0 (timed: the cell itself, cached; a changed cell).
	var blob []byte
	if rank == 0 {
		b, err := compile.NewBuilder(compile.Options{CacheDir: *cache, Shims: x})
		if err != nil {
			return err
		}
		t0 := time.Now()
		a, err := b.Compile(ctx, cell, nil)
		if err != nil {
			return err
		}
		report["build (first call of this run)"] = fmt.Sprintf("%.2f s (cached: %v)", time.Since(t0).Seconds(), a.Cached)
		t0 = time.Now()
		if _, err := b.Compile(ctx, cell, nil); err != nil {
			return err
		}
		report["build, cache hit"] = fmt.Sprintf("%.1f ms", ms(time.Since(t0)))
		edited := cell + fmt.Sprintf("\nconst Edit = %d\n", time.Now().UnixNano())
		t0 = time.Now()
		if _, err := b.Compile(ctx, edited, nil); err != nil {
			return err
		}
		report["build after an edit (warm go cache)"] = fmt.Sprintf("%.2f s", time.Since(t0).Seconds())
		if blob, err = a.MarshalBinary(); err != nil {
			return err
		}
	}
	// Ship the artifact to every rank, as the kernel does.
	n := []int{len(blob)}
	if err := w.Bcast(n, 0); err != nil {
		return err
	}
	if rank != 0 {
		blob = make([]byte, n[0])
	}
	if err := w.Bcast(blob, 0); err != nil {
		return err
	}
	sess, err := session.New(session.Options{Rank: rank, Size: size, Exports: x, PreImport: []string{"gompi/mpi"}, Stdout: io.Discard, Stderr: os.Stderr})
	if err != nil {
		return err
	}
	defer sess.Close()
	if err := w.Barrier(); err != nil {
		return err
	}
	t0 := time.Now()
	var a compile.Artifact
	if err := a.UnmarshalBinary(blob); err != nil {
		return err
	}
	loader := compile.NewLoader("")
	if _, err := loader.Open(&a, x); err != nil { // write the file, plugin.Open, bind shims
		return err
	}
	opened := time.Now()
	if err := loader.Bind(ctx, sess, &a, x); err != nil { // opened already: session.Use, declare names
		return err
	}
	load := []float64{ms(time.Since(t0)), ms(opened.Sub(t0)), ms(time.Since(opened))}
	maxLoad := []float64{0, 0, 0}
	if err := w.Allreduce(load, maxLoad, mpi.Max); err != nil {
		return err
	}
	report["load on every rank (slowest)"] = fmt.Sprintf("%.1f ms = open %.1f + bind into the session %.1f (%d bytes)", maxLoad[0], maxLoad[1], maxLoad[2], len(a.Plugin))

	cellTime := func(code string) (float64, error) {
		res := sess.Execute(ctx, "__t0 := time.Now()\n"+code+"\ntime.Since(__t0).Seconds()*1000")
		if res.Err != nil {
			return 0, fmt.Errorf("%s: %s", res.Err.Name, res.Err.Value)
		}
		return strconv.ParseFloat(res.Data["text/plain"].(string), 64)
	}
	if res := sess.Execute(ctx, "import \"time\"\nconst N = 1000000\nu := make([]float64, N); v := make([]float64, N); for i := range u { u[i] = float64(i % 7) }"); res.Err != nil {
		return fmt.Errorf("setup cell: %s", res.Err.Value)
	}
	const N = 1000000
	u, v := make([]float64, N), make([]float64, N)
	for i := range u {
		u[i] = float64(i % 7)
	}
	local := N / size
	hu := make([]float64, local+2)
	if res := sess.Execute(ctx, fmt.Sprintf("hu := make([]float64, %d)", local+2)); res.Err != nil {
		return fmt.Errorf("setup cell: %s", res.Err.Value)
	}
	type pair struct {
		name           string
		cell           string
		native         func()
		interpreted    string
		cellMs, natMs  []float64
		interpMs       float64
		interpretedSet bool
	}
	const heatSteps = 200
	cases := []*pair{
		{name: "stencil, 10 sweeps of 10^6", cell: "for k := 0; k < 10; k++ { Step(u, v); u, v = v, u }",
			native: func() {
				for k := 0; k < 10; k++ {
					step(u, v)
					u, v = v, u
				}
			},
			interpreted: "for k := 0; k < 10; k++ { StepI(u, v); u, v = v, u }"},
		{name: "fib(27)", cell: "Fib(27)", native: func() { fib(27) }, interpreted: "FibI(27)"},
		{name: fmt.Sprintf("heat-1d, %d steps of 10^6 (halo exchange)", heatSteps),
			cell:   fmt.Sprintf("for i := range hu { hu[i] = 0 }; hu[len(hu)/2] = 1; Heat(hu, %d)", heatSteps),
			native: func() { clear(hu); hu[len(hu)/2] = 1; heat(w, hu, heatSteps) }},
	}
	for _, c := range cases {
		for r := 0; r < *reps; r++ {
			// Alternate, so that other load on the machine weighs on both.
			if err := w.Barrier(); err != nil {
				return err
			}
			t, err := cellTime(c.cell)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			if err := w.Barrier(); err != nil {
				return err
			}
			t1 := time.Now()
			c.native()
			c.natMs = append(c.natMs, ms(time.Since(t1)))
			c.cellMs = append(c.cellMs, t)
		}
	}
	// The compiled and the go-build heat loops must agree (every rank).
	res := sess.Execute(ctx, fmt.Sprintf("for i := range hu { hu[i] = float64(i %% 5) }; Heat(hu, %d)", heatSteps))
	if res.Err != nil {
		return fmt.Errorf("heat check: %s", res.Err.Value)
	}
	for i := range hu {
		hu[i] = float64(i % 5)
	}
	want := heat(w, hu, heatSteps)
	report["heat-1d results equal (compiled cell vs go build)"] = fmt.Sprint(res.Data["text/plain"] == strconv.FormatFloat(want, 'g', -1, 64) || res.Data["text/plain"] == fmt.Sprint(want))
	if *interpToo {
		if res := sess.Execute(ctx, `func StepI(u, v []float64) {
	for i := 1; i < len(u)-1; i++ {
		v[i] = 0.25*u[i-1] + 0.5*u[i] + 0.25*u[i+1]
	}
}
func FibI(n int) int {
	if n < 2 {
		return n
	}
	return FibI(n-1) + FibI(n-2)
}`); res.Err != nil {
			return fmt.Errorf("interpreted versions: %s", res.Err.Value)
		}
		for _, c := range cases {
			if c.interpreted == "" {
				continue
			}
			t, err := cellTime(c.interpreted)
			if err != nil {
				return err
			}
			c.interpMs, c.interpretedSet = t, true
		}
	}
	if rank != 0 {
		return nil
	}
	fmt.Fprintf(out, "gompi-kernel bench/compiled: %d rank(s), %d repetitions, medians; %s\n\n", size, *reps, time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(out, "| code | %%%%compile cell, called from a cell | go build | ratio | interpreted |\n")
	fmt.Fprintln(out, "|---|---|---|---|---|")
	for _, c := range cases {
		cm, nm := median(c.cellMs), median(c.natMs)
		interp := "—"
		if c.interpretedSet {
			interp = fmt.Sprintf("%.0f ms (%.0f×)", c.interpMs, c.interpMs/nm)
		}
		fmt.Fprintf(out, "| %s | %.1f ms | %.1f ms | **%.2f×** | %s |\n", c.name, cm, nm, cm/nm, interp)
	}
	fmt.Fprintln(out)
	keys := make([]string, 0, len(report))
	for k := range report {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(out, "- %s: %s\n", k, report[k])
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}
