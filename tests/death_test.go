package tests

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRankDeathIsReported: when a worker dies while a cell runs, the
// frontend gets ONE error naming the rank and the runtime's reason, then
// the job ends without orphans.
func TestRankDeathIsReported(t *testing.T) {
	for _, tc := range []struct {
		name, code string
		kill       bool // SIGKILL rank 2 from outside while the cell runs
		want       string
	}{
		{"concurrent map writes", `if mpi.Rank() == 2 {
	runtime.GOMAXPROCS(4) // in parallel, as on a node with cores to spare
	m := map[int]int{}
	for i := 0; i < 4; i++ {
		go func() { for j := 0; ; j++ { m[j%64] = j } }()
	}
	select {}
}
mpi.Barrier()`, false, "rank 2: died: fatal error: concurrent map writes"},
		{"killed from outside", `if mpi.Rank() == 2 { time.Sleep(time.Hour) }
mpi.Barrier()`, true, "rank 2: died: it ended without a word: killed by a signal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.kill {
				skipKilledRankUnderMPICH(t)
			}
			k := startKernel(t, 4)
			drive(t, k.connFile, exec1(`x := 1`)) // every rank up
			if tc.kill {
				pid := rankPid(t, k, 2)
				go func() {
					time.Sleep(3 * time.Second)
					syscall.Kill(pid, syscall.SIGKILL)
				}()
			}
			res := drive(t, k.connFile, exec1(tc.code))
			errs := res[0].of("error")
			if len(errs) != 1 {
				t.Fatalf("%d error messages, want 1: %+v\nstderr:\n%s", len(errs), res[0].Msgs, k.stderr)
			}
			if ename := errs[0].Content["ename"]; ename != "RankDied" {
				t.Errorf("ename %v", ename)
			}
			if v := fmt.Sprint(errs[0].Content["evalue"]); !strings.Contains(v, tc.want) {
				t.Errorf("evalue %q lacks %q", v, tc.want)
			}
			if res[0].status() != "error" {
				t.Errorf("reply %v", res[0].Reply)
			}
			if err := k.wait(60 * time.Second); err == nil || strings.Contains(err.Error(), "still running") {
				t.Errorf("job after the death: %v", err)
			}
			if pids := processesOf(k.connFile); len(pids) > 0 {
				t.Errorf("processes left: %v", pids)
			}
		})
	}
}

// rankPid finds the process of MPI rank r of kernel k.
func rankPid(t *testing.T, k *kernelProc, r int) int {
	t.Helper()
	// OpenMPI's and MPICH Hydra's spelling of the rank.
	want := [][]byte{[]byte(fmt.Sprintf("\x00OMPI_COMM_WORLD_RANK=%d\x00", r)), []byte(fmt.Sprintf("\x00PMI_RANK=%d\x00", r))}
	for _, pid := range ranksOf(k.cmd.Process.Pid) {
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		env = append([]byte{0}, env...)
		if err == nil && (bytes.Contains(env, want[0]) || bytes.Contains(env, want[1])) {
			return pid
		}
	}
	t.Fatalf("no process of rank %d", r)
	return 0
}

// TestRunawayRecursionIsBounded: a recursion without end on every rank ends
// the job once the workers' stacks reach their cap (engine.limitStacks: a
// share of the node's memory, 64-256 MiB), not Go's 1 GB per rank.
func TestRunawayRecursionIsBounded(t *testing.T) {
	p := writeScript(t, "package main\n\nfunc f(n int) int { return f(n+1) + 1 }\n\nfunc main() { f(0) }\n")
	out, code := runJob(t, 4, "run", "--interpret", "--all", p)
	if code == 0 {
		t.Errorf("the job ended with status 0 after a stack overflow:\n%.2000s", out)
	}
	all := regexp.MustCompile(`goroutine stack exceeds (\d+)-byte limit`).FindAllStringSubmatch(out, -1)
	if len(all) == 0 {
		t.Fatalf("no stack overflow reported:\n%.2000s", out)
	}
	least := 0
	for _, m := range all {
		if n, _ := strconv.Atoi(m[1]); least == 0 || n < least {
			least = n
		}
	}
	if least < 64<<20 || least > 256<<20 {
		t.Errorf("the first stacks overflowed at %d bytes, want a worker's cap (64 to 256 MiB)", least)
	}
}
