package mpi

// The tests run real MPI jobs: the parent test starts
//
//	mpirun -n N --oversubscribe --bind-to none <this test binary>
//
// (with `-tags mpich`: mpiexec.mpich -n N -bind-to none; the launcher is the
// one of the MPI the binary links, internal/mpiimpl)
// with GOMPI_MPI_CHILD=<scenario> in the environment. TestMain sees the
// variable, initialises MPI, runs the scenario on every rank and exits; each
// rank prints "rank R: ok <scenario>" or "rank R: FAIL …" lines, which the
// parent checks together with mpirun's exit code.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gompi-kernel/gompi-kernel/internal/mpiimpl"
)

const childEnv = "GOMPI_MPI_CHILD"

// scenario runs on every rank of a child job. It may print "key=value"
// lines with report(); it returns an error to fail.
type scenario func(rank, size int) error

var scenarios = map[string]scenario{}

func TestMain(m *testing.M) {
	if addr := os.Getenv(floodEnv); addr != "" {
		os.Exit(runFlood(addr))
	}
	name := os.Getenv(childEnv)
	if name == "" {
		os.Exit(m.Run())
	}
	os.Exit(runChild(name))
}

func runChild(name string) int {
	s, ok := scenarios[name]
	if !ok {
		fmt.Printf("rank ?: FAIL unknown scenario %q\n", name)
		return 2
	}
	if err := Init(); err != nil {
		fmt.Printf("rank ?: FAIL Init: %v\n", err)
		return 1
	}
	w := WorldComm()
	rank, size := w.Rank(), w.Size()
	code := 0
	func() {
		defer func() {
			if p := recover(); p != nil {
				fmt.Printf("rank %d: FAIL panic: %v\n%s\n", rank, p, debug.Stack())
				code = 1
			}
		}()
		if err := s(rank, size); err != nil {
			fmt.Printf("rank %d: FAIL %s: %v\n", rank, name, err)
			code = 1
			return
		}
		fmt.Printf("rank %d: ok %s\n", rank, name)
	}()
	if code != 0 {
		os.Stdout.Sync()
		Abort(code)
	}
	if err := Finalize(); err != nil {
		fmt.Printf("rank %d: FAIL Finalize: %v\n", rank, err)
		return 1
	}
	return 0
}

// report prints a value for the parent test to collect.
func report(rank int, key string, v any) {
	fmt.Printf("rank %d: %s=%v\n", rank, key, v)
}

// jobResult is what a child job printed, by rank.
type jobResult struct {
	out    string
	values map[string]map[int]string // key -> rank -> value
	oks    map[int]bool
}

var lineRE = regexp.MustCompile(`^rank (\d+): (.*)$`)

// runJob runs scenario on n ranks under mpirun (n == 0: without mpirun, a
// singleton) and fails t unless every rank reports ok and the job exits 0.
func runJob(t testing.TB, n int, name string, timeout time.Duration) *jobResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var cmd *exec.Cmd
	if n == 0 {
		cmd = exec.CommandContext(ctx, self)
	} else {
		mpirun, err := mpiimpl.FindLauncher()
		if err != nil {
			t.Fatalf("make setup installs it: %v", err)
		}
		args := append([]string{"-n", strconv.Itoa(n)}, mpiimpl.LauncherFlags(mpirun)...)
		cmd = exec.CommandContext(ctx, mpirun, append(args, self)...)
	}
	// OpenMPI refuses to run as root without the two variables; MPICH
	// has no such check and ignores them.
	cmd.Env = append(os.Environ(), childEnv+"="+name,
		"OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	runErr := cmd.Run()
	res := &jobResult{out: buf.String(), values: map[string]map[int]string{}, oks: map[int]bool{}}
	sc := bufio.NewScanner(strings.NewReader(res.out))
	for sc.Scan() {
		m := lineRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		r, _ := strconv.Atoi(m[1])
		body := m[2]
		switch {
		case body == "ok "+name:
			res.oks[r] = true
		case strings.HasPrefix(body, "FAIL"):
			t.Errorf("rank %d: %s", r, body)
		default:
			if k, v, ok := strings.Cut(body, "="); ok {
				if res.values[k] == nil {
					res.values[k] = map[int]string{}
				}
				res.values[k][r] = v
			}
		}
	}
	ranks := n
	if n == 0 {
		ranks = 1
	}
	if runErr != nil || len(res.oks) != ranks || t.Failed() {
		t.Fatalf("job %s on %d ranks: err=%v, ok from %d ranks; output:\n%s", name, ranks, runErr, len(res.oks), res.out)
	}
	return res
}

// floats returns the per-rank float values of key, in rank order.
func (r *jobResult) floats(t testing.TB, key string) []float64 {
	t.Helper()
	var ranks []int
	for k := range r.values[key] {
		ranks = append(ranks, k)
	}
	sort.Ints(ranks)
	var out []float64
	for _, k := range ranks {
		f, err := strconv.ParseFloat(r.values[key][k], 64)
		if err != nil {
			t.Fatalf("%s on rank %d: %v", key, k, err)
		}
		out = append(out, f)
	}
	return out
}
