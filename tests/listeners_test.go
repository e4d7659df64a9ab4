package tests

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRanksListenOnLoopbackOnly: on one host, nothing a rank of a 4-rank
// kernel opens listens beyond 127.0.0.1 (Jupyter's five ports, the
// doorbell, and no MPI TCP transport). The launcher's own listener binds
// every address whatever the settings (OpenMPI's mpirun out-of-band;
// MPICH's Hydra mpiexec, whose listening socket every rank inherits): it is
// the launcher's, so a socket the launcher holds too is not checked here.
func TestRanksListenOnLoopbackOnly(t *testing.T) {
	k := startKernel(t, 4)
	drive(t, k.connFile, exec1(`mpi.Barrier()`))
	ranks := ranksOf(k.cmd.Process.Pid)
	if len(ranks) != 4 {
		t.Fatalf("the launcher runs %d ranks, want 4", len(ranks))
	}
	listening := listeningSockets(t)
	launchers := map[string]bool{}
	for _, inode := range socketInodes(k.cmd.Process.Pid) {
		launchers[inode] = true
	}
	seen := 0
	for _, pid := range ranks {
		for _, inode := range socketInodes(pid) {
			addr, ok := listening[inode]
			if !ok || launchers[inode] {
				continue
			}
			seen++
			if !strings.HasPrefix(addr, "127.") {
				t.Errorf("rank process %d listens on %s", pid, addr)
			}
		}
	}
	// Rank 0 alone has the five Jupyter ports.
	if seen < 5 {
		t.Errorf("found %d listening sockets of the ranks, want at least 5", seen)
	}
	drive(t, k.connFile, action{"do": "shutdown"})
	if err := k.wait(30 * time.Second); err != nil {
		t.Error(err)
	}
}

// listeningSockets maps the inode of every listening TCP socket to its
// address, from /proc/net/tcp and tcp6.
func listeningSockets(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" { // 0A: LISTEN
				continue
			}
			out[fields[9]] = hexAddr(fields[1])
		}
		f.Close()
	}
	return out
}

// hexAddr turns /proc/net/tcp's "0100007F:1F90" into "127.0.0.1:8080"
// (IPv6 as "::…" in hex, which never starts with "127.").
func hexAddr(s string) string {
	ip, port, _ := strings.Cut(s, ":")
	p, _ := strconv.ParseUint(port, 16, 16)
	if len(ip) != 8 {
		return fmt.Sprintf("[%s]:%d", ip, p)
	}
	v, _ := strconv.ParseUint(ip, 16, 32)
	return fmt.Sprintf("%d.%d.%d.%d:%d", v&0xff, v>>8&0xff, v>>16&0xff, v>>24, p)
}

// socketInodes lists the inodes of pid's open sockets.
func socketInodes(pid int) []string {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	ents, _ := os.ReadDir(dir)
	var inodes []string
	for _, e := range ents {
		link, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes = append(inodes, strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]"))
		}
	}
	return inodes
}
