package engine

import (
	"bufio"
	"bytes"
	"log/slog"
	"math/bits"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/gompi-kernel/gompi-kernel/mpi"
)

// A runaway recursion in a cell grows its goroutine's stack up to Go's
// limit, 1 GB on 64-bit machines, and then the process dies ("fatal error:
// stack overflow": the runtime cannot turn it into a panic). Every rank
// runs the cell, so 64 ranks on one node asked for 64 GB before the first
// of them died: a laptop swaps, and its out-of-memory killer may pick
// another program. limitStacks caps a goroutine's stack so that all the
// ranks of a node overflowing together take at most a quarter of the
// memory the job may use: that memory / (4 × ranks on the node), between
// minStackLimit and maxStackLimit. An interpreted call takes ~1.25 kB of
// stack (~200 000 calls deep at 256 MiB), a compiled one tens of bytes; a
// cell that needs deeper recursion calls debug.SetMaxStack.
//
// Rank 0 gets 1 GiB, at least four times a worker's limit: when a cell
// recurses without end on every rank, the workers die first, and their
// deaths interrupt rank 0's cell (Coordinator.watchDeaths) before its own
// stack is full, so the frontend is told which rank died and why. With
// equal limits rank 0 died at the same depth, before it could say so; with
// twice a worker's limit it still did in 1 of 8 runs of 4 ranks on 2 cores
// (where rank 0 may run ahead of a worker that waits for a core). It is a
// race still under OpenMPI, whose mpirun ends rank 0 about a second after a
// worker died: growing a stack of hundreds of MiB holds rank 0's one Go
// processor, and in 1 of 10 runs the report did not get out in time. A
// stack grows by doubling, so a limit is in effect the largest power of two
// not above it (Go's own, 10^9 bytes, allows 512 MiB).
const (
	minStackLimit      = 64 << 20
	maxStackLimit      = 256 << 20 // a worker's at most
	rankZeroStackLimit = 1 << 30
)

func limitStacks(log *slog.Logger, rank int) {
	local, ok := mpi.LocalSize()
	if !ok {
		local = 1
	}
	mem := memoryForJob()
	limit := stackLimit(mem, local)
	if limit == 0 {
		return
	}
	if rank == 0 {
		limit = rankZeroStackLimit
	}
	debug.SetMaxStack(limit)
	log.Debug("goroutine stacks capped: the node's memory shared among its ranks", "max_stack_mb", limit>>20, "memory_mb", mem>>20, "ranks_on_node", local)
}

// stackLimit is a worker's limit: mem / (4 × local), between minStackLimit
// and maxStackLimit, rounded down to a power of two; 0 (Go's own) when mem
// is unknown.
func stackLimit(mem uint64, local int) int {
	if mem == 0 || local < 1 {
		return 0
	}
	l := min(max(mem/4/uint64(local), minStackLimit), maxStackLimit)
	return 1 << (bits.Len64(l) - 1)
}

// memoryForJob is the memory this process may use, in bytes: the machine's
// (MemTotal), or its cgroup's limit where that is lower (a container, a
// Slurm job step); 0 where neither can be read (not Linux).
func memoryForJob() uint64 {
	var total uint64
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		s := bufio.NewScanner(bytes.NewReader(b))
		for s.Scan() {
			if f := strings.Fields(s.Text()); len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.ParseUint(f[1], 10, 64); err == nil {
					total = kb << 10
				}
				break
			}
		}
	}
	if c := cgroupMemoryMax(); c > 0 && (total == 0 || c < total) {
		return c
	}
	return total
}

// cgroupMemoryMax is the memory limit of this process's cgroup: memory.max
// (cgroup v2) or memory.limit_in_bytes (v1, still common under Slurm); 0
// if none can be read or it is "max".
func cgroupMemoryMax() uint64 {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0
	}
	var limit uint64
	for _, line := range strings.Split(string(b), "\n") {
		var file string
		if path, ok := strings.CutPrefix(line, "0::"); ok {
			file = "/sys/fs/cgroup" + strings.TrimSpace(path) + "/memory.max"
		} else if _, rest, ok := strings.Cut(line, ":memory:"); ok {
			file = "/sys/fs/cgroup/memory" + strings.TrimSpace(rest) + "/memory.limit_in_bytes"
		} else {
			continue
		}
		v, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(string(v)), 10, 64); err == nil && n > 0 && (limit == 0 || n < limit) {
			limit = n
		}
	}
	return limit
}
