// Command memcpy measures the bandwidth of Go's copy() between two slices of
// the sizes bench/collectives.py transfers, as the reference for MPI
// bandwidth: `go run ./bench/memcpy [-reps 20] [-bytes 8000000,67108864]`.
// One line per size: "memcpy BYTES best_GBps median_GBps" (GB = 1e9 bytes
// copied per second; the buffers are touched first, so no page faults are
// timed).
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

func main() {
	reps := flag.Int("reps", 20, "copies per size")
	sizes := flag.String("bytes", "8000000,67108864", "comma-separated sizes in bytes")
	flag.Parse()
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "memcpy: bad size %q\n", s)
			os.Exit(2)
		}
		src := make([]byte, n)
		dst := make([]byte, n)
		for i := range src {
			src[i] = byte(i)
		}
		copy(dst, src) // fault in dst
		ts := make([]float64, *reps)
		for i := range ts {
			t := time.Now()
			copy(dst, src)
			ts[i] = time.Since(t).Seconds()
		}
		sort.Float64s(ts)
		gbps := func(t float64) float64 { return float64(n) / t / 1e9 }
		fmt.Printf("memcpy %d %.3f %.3f\n", n, gbps(ts[0]), gbps(ts[len(ts)/2]))
	}
}
