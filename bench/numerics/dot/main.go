// Command dot is the compiled side of the numerics benchmark: the same
// distributed dot product a cell runs (floats.Dot of n float64 per rank, then
// mpi.Allreduce of the partial sums), built with go build and run under
// mpirun. It prints one JSON line on rank 0: the time of each repetition
// (the slowest rank's) and the result, which run.py compares with the
// cell's and numpy's.
//
//	mpirun -n 4 --oversubscribe --bind-to none ./dot -n 10000000 -reps 15
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"gonum.org/v1/gonum/floats"

	"github.com/gompi-kernel/gompi-kernel/mpi"
)

func main() {
	n := flag.Int("n", 10_000_000, "float64 per rank")
	reps := flag.Int("reps", 15, "repetitions")
	flag.Parse()
	if err := run(*n, *reps); err != nil {
		fmt.Fprintln(os.Stderr, "dot:", err)
		os.Exit(1)
	}
}

func run(n, reps int) (err error) {
	if err := mpi.Init(); err != nil {
		return fmt.Errorf("initialising MPI: %w", err)
	}
	defer func() {
		if ferr := mpi.Finalize(); err == nil && ferr != nil {
			err = fmt.Errorf("finalising MPI: %w", ferr)
		}
	}()
	// The cells' World, as the kernel gives it to cells: the same
	// non-blocking, interruptible collectives.
	w, err := mpi.NewWorld(mpi.WorldComm())
	if err != nil {
		return fmt.Errorf("creating the world: %w", err)
	}
	w.Bind(context.Background())

	x, y := vectors(n, w.Rank())
	var times []float64
	var dot float64
	for i := 0; i < reps; i++ {
		if err := w.Barrier(); err != nil {
			return fmt.Errorf("barrier: %w", err)
		}
		t0 := mpi.Wtime()
		sum := []float64{floats.Dot(x, y)}
		if err := w.Allreduce(sum, sum, mpi.Sum); err != nil {
			return fmt.Errorf("allreduce: %w", err)
		}
		elapsed := []float64{mpi.Wtime() - t0}
		if err := w.Allreduce(elapsed, elapsed, mpi.Max); err != nil {
			return fmt.Errorf("allreduce of the times: %w", err)
		}
		times = append(times, elapsed[0])
		dot = sum[0]
	}
	if w.Rank() == 0 {
		return json.NewEncoder(os.Stdout).Encode(map[string]any{"times": times, "dot": dot, "ranks": w.Size(), "n": n})
	}
	return nil
}

// vectors fills x and y the way the cell and numpy do, so that all three
// compute the same number: x[i] = (rank+1) + i/n, y[i] = 1/(rank+1) + i/n.
func vectors(n, rank int) (x, y []float64) {
	x, y = make([]float64, n), make([]float64, n)
	r := float64(rank + 1)
	floats.Span(x, r, r+float64(n-1)/float64(n))
	floats.Span(y, 1/r, 1/r+float64(n-1)/float64(n))
	return x, y
}
