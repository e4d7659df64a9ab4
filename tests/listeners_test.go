package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRanksListenOnLoopbackOnly: on one host, nothing a rank of a 4-rank
// kernel opens listens beyond 127.0.0.1, and the ranks' only TCP ports
// are the five of the connection file (the doorbell and the lifeline are
// abstract Unix sockets, and there is no MPI TCP transport): a frontend
// picks those five before it starts the kernel, and any other port a rank
// took before binding them could be one of them. The launcher's own listener binds
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
	var ports []string
	for _, pid := range ranks {
		for _, inode := range socketInodes(pid) {
			addr, ok := listening[inode]
			if !ok || launchers[inode] {
				continue
			}
			if !strings.HasPrefix(addr, "127.") {
				t.Errorf("rank process %d listens on %s", pid, addr)
			}
			_, port, _ := strings.Cut(addr, ":")
			ports = append(ports, port)
		}
	}
	var conn map[string]any
	if b, err := os.ReadFile(k.connFile); err != nil || json.Unmarshal(b, &conn) != nil {
		t.Fatalf("connection file: %v", err)
	}
	var want []string
	for _, key := range []string{"shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"} {
		want = append(want, fmt.Sprint(conn[key]))
	}
	sort.Strings(ports)
	sort.Strings(want)
	if strings.Join(ports, " ") != strings.Join(want, " ") {
		t.Errorf("the ranks listen on TCP ports %v; want only the connection file's %v", ports, want)
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

// loopbackAddr tells whether a listening address from listeningSockets is
// on loopback: 127.0.0.0/8, or ::1 (as /proc/net/tcp6 writes it).
func loopbackAddr(addr string) bool {
	return strings.HasPrefix(addr, "127.") || strings.HasPrefix(addr, "[00000000000000000000000001000000]:")
}

// checkJobListensOnLoopback checks that no process of a kernel's job (the
// launcher and the ranks: every process whose command line names the
// kernel binary) listens beyond loopback, and that the launcher's
// listeners were among those seen.
func checkJobListensOnLoopback(t *testing.T) {
	t.Helper()
	listening := listeningSockets(t)
	launcher := 0
	for _, pid := range processesOf(binary) {
		comm, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
		name := strings.TrimSpace(string(comm))
		for _, inode := range socketInodes(pid) {
			addr, ok := listening[inode]
			if !ok {
				continue
			}
			// OpenMPI's mpirun (mpirun.openmpi, orterun), MPICH's
			// mpiexec.mpich / mpiexec.hydra.
			if strings.HasPrefix(name, "mpirun") || name == "orterun" || strings.HasPrefix(name, "mpiexec") {
				launcher++
			}
			if !loopbackAddr(addr) {
				t.Errorf("%s (pid %d) listens on %s", name, pid, addr)
			}
		}
	}
	if launcher == 0 {
		t.Errorf("no listening socket of the launcher found: the check saw nothing of it")
	}
}

// TestKernelspecJobOnLoopback starts the installed kernelspec's command as
// Jupyter does (its argv with the connection file, its env): every rank is
// on this host, so nothing of the job, mpirun included, listens beyond
// loopback.
func TestKernelspecJobOnLoopback(t *testing.T) {
	installSpec(t, "gompi-loopback", 4)
	b, err := os.ReadFile(filepath.Join(os.Getenv("JUPYTER_DATA_DIR"), "kernels", "gompi-loopback", "kernel.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Argv []string          `json:"argv"`
		Env  map[string]string `json:"env"`
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	if spec.Env["LD_PRELOAD"] == "" {
		t.Fatalf("the kernelspec preloads no loopback shim into mpirun: %s", b)
	}
	conn := filepath.Join(t.TempDir(), "kernel.json")
	argv := make([]string, len(spec.Argv))
	for i, a := range spec.Argv {
		argv[i] = strings.ReplaceAll(a, "{connection_file}", conn)
	}
	k := &kernelProc{t: t, connFile: conn, stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, done: make(chan struct{})}
	k.cmd = exec.Command(argv[0], argv[1:]...)
	k.cmd.Env = os.Environ()
	for key, v := range spec.Env {
		k.cmd.Env = append(k.cmd.Env, key+"="+v)
	}
	k.cmd.Stdout, k.cmd.Stderr = k.stdout, k.stderr
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := k.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { k.err = k.cmd.Wait(); close(k.done) }()
	t.Cleanup(k.kill)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(conn); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection file after 60 s\nstderr:\n%s", k.stderr)
		}
	}
	res := drive(t, conn, exec1(`mpi.Barrier(); mpi.Size()`))
	if got := textResult(res[0]); got != "4" {
		t.Errorf("a cell on the kernelspec's job: %q", got)
	}
	checkJobListensOnLoopback(t)
	drive(t, conn, action{"do": "shutdown"})
	if err := k.wait(30 * time.Second); err != nil {
		t.Error(err)
	}
}
