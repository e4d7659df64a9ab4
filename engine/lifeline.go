package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A lifeline is how rank 0 learns that a worker died, and why.
//
// When a Go process dies of a fatal error (stack overflow, concurrent map
// writes, out of memory) the runtime writes the reason to its standard
// error and exits; mpirun then ends the whole job. The reason was only in
// the kernel's stderr, and the frontend got nothing. So each worker sends
// its standard error to rank 0 over a connection (file descriptor 2
// itself is redirected: the runtime writes there while dying, when no Go
// code of ours can run). Rank 0 copies it to its own standard error, so the
// kernel log reads as before, keeps the tail, and when the connection
// closes while the job is not shutting down, that rank has died: the tail
// says why, or nothing does (SIGKILL, the out-of-memory killer).
//
// A worker's connection starts with a secret that rank 0 sent over MPI, so
// no other local user can pose as a rank.
type lifeline struct {
	ln     net.Listener
	secret []byte
	log    *slog.Logger
	deaths chan death
	// stderr is rank 0's standard error as it was when the lifeline
	// opened: a loaded plugin later points the os.Stderr variable at the
	// session's capture pipe (compile.Loader.Bind), and the workers' stderr
	// belongs in the kernel's log, not in a cell's output.
	stderr io.Writer

	mu     sync.Mutex
	ending bool // a quit was sent or a death seen: later closes are expected
	wg     sync.WaitGroup
	conns  []net.Conn
}

// death is a worker that died, with the runtime's words for why.
type death struct {
	rank   int
	reason string
}

const (
	secretLen = 16
	// infoLen is the fixed size of rank 0's broadcast: every rank must
	// pass the same length to MPI_Ibcast.
	infoLen = 4096
	// tailLen is how much of a worker's stderr rank 0 keeps for the reason.
	tailLen = 64 << 10
)

// lifelineInfo is what rank 0 broadcasts: where to connect and the secret.
type lifelineInfo struct {
	Addrs  []string `json:"addrs"`
	Secret []byte   `json:"secret"`
}

// openLifeline is collective over MPI_COMM_WORLD. On rank 0 it listens and
// broadcasts where; on a worker it connects in the background and, once
// connected, sends its stderr there. A lifeline that cannot be set up only
// costs the reasons of deaths, so errors are logged, not returned, except
// an MPI failure.
func openLifeline(ctx context.Context, f *Fabric, log *slog.Logger) (*lifeline, error) {
	buf := make([]byte, infoLen)
	var l *lifeline
	if f.rank == 0 {
		var err error
		if l, err = listenLifeline(f, log); err != nil {
			log.Warn("lifeline: deaths of ranks will be reported without their reason", "err", err)
		} else {
			info, _ := json.Marshal(lifelineInfo{Addrs: l.addrs(f), Secret: l.secret})
			if len(info) > infoLen {
				info = info[:0]
			}
			copy(buf, info)
		}
	}
	req, err := f.world.Ibcast(buf, 0)
	if err != nil {
		return nil, fmt.Errorf("lifeline: broadcast: %w", err)
	}
	if err := req.Wait(ctx, nil); err != nil {
		return nil, fmt.Errorf("lifeline: broadcast: %w", err)
	}
	if f.rank == 0 || f.size == 1 {
		return l, nil
	}
	var info lifelineInfo
	if err := json.Unmarshal(bytes.TrimRight(buf, "\x00"), &info); err != nil || len(info.Addrs) == 0 {
		log.Debug("lifeline: rank 0 has none", "err", err)
		return nil, nil
	}
	go connectLifeline(f.rank, info, log)
	return nil, nil
}

// listenLifeline listens on an abstract Unix socket when the whole job is
// on this host, else on TCP on every address (connections must prove the
// secret either way). On one host no TCP port is taken: a frontend that
// starts the kernel has picked the five ports of its connection file
// before, and a lifeline on an ephemeral loopback port could take one of
// them before rank 0 bound them ("address already in use":
// TestJupyterKernelTest failed so once; rank 0 now also binds them before
// MPI starts where it can, modes.listenEarly).
func listenLifeline(f *Fabric, log *slog.Logger) (*lifeline, error) {
	secret := make([]byte, secretLen)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	network, addr := "tcp", ":0"
	if f.oneHost() {
		name := make([]byte, 12)
		if _, err := rand.Read(name); err != nil {
			return nil, err
		}
		network, addr = "unix", "@gompi-lifeline-"+hex.EncodeToString(name)
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	l := &lifeline{ln: ln, secret: secret, log: log, deaths: make(chan death, f.size), stderr: os.Stderr}
	l.wg.Add(1)
	go l.accept(f.size)
	return l, nil
}

// oneHost reports whether every rank runs on this host, as MPI itself
// says (Fabric.local: MPI_COMM_TYPE_SHARED), so that it holds whatever MPI
// and launcher started the job.
func (f *Fabric) oneHost() bool { return f.local == f.size }

// addrs lists where the workers may reach rank 0: the abstract Unix
// socket's name ("@…") on one host, else each address of each interface
// that is up.
func (l *lifeline) addrs(f *Fabric) []string {
	tcp, ok := l.ln.Addr().(*net.TCPAddr)
	if !ok {
		return []string{l.ln.Addr().String()}
	}
	port := fmt.Sprint(tcp.Port)
	var out []string
	ifaces, _ := net.Interfaces()
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		as, _ := ifc.Addrs()
		for _, a := range as {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.IsGlobalUnicast() {
				out = append(out, net.JoinHostPort(ipn.IP.String(), port))
			}
		}
	}
	return out
}

func (l *lifeline) accept(size int) {
	defer l.wg.Done()
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			return // closed
		}
		l.mu.Lock()
		l.conns = append(l.conns, conn)
		l.wg.Add(1)
		l.mu.Unlock()
		go l.serve(conn, size)
	}
}

// serve reads one worker's stderr until it closes.
func (l *lifeline) serve(conn net.Conn, size int) {
	defer l.wg.Done()
	defer conn.Close()
	hello := make([]byte, secretLen+4)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(conn, hello); err != nil || subtle.ConstantTimeCompare(hello[:secretLen], l.secret) != 1 {
		l.log.Warn("lifeline: connection without the job's secret dropped", "from", conn.RemoteAddr())
		return
	}
	rank := int(binary.BigEndian.Uint32(hello[secretLen:]))
	if rank <= 0 || rank >= size {
		l.log.Warn("lifeline: connection for a rank out of range dropped", "rank", rank)
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	var tail []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			_, _ = l.stderr.Write(buf[:n])
			tail = append(tail, buf[:n]...)
			if len(tail) > tailLen {
				tail = append(tail[:0], tail[len(tail)-tailLen:]...)
			}
		}
		if err != nil {
			break
		}
	}
	l.mu.Lock()
	expected := l.ending
	l.ending = true // one death ends the job: later closes follow from it
	l.mu.Unlock()
	if !expected {
		l.deaths <- death{rank: rank, reason: deathReason(tail)}
	}
}

// deathReason picks the runtime's own words out of a dying process's last
// output: "fatal error: concurrent map writes", the runtime's lines before
// a stack overflow, "panic: …", a signal.
func deathReason(tail []byte) string {
	var lines []string
	for _, line := range strings.Split(string(tail), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "fatal error:"), strings.HasPrefix(line, "panic:"),
			strings.HasPrefix(line, "runtime: goroutine stack exceeds"), strings.HasPrefix(line, "runtime: out of memory"),
			strings.HasPrefix(line, "[signal "), strings.HasPrefix(line, "SIG"):
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		return "it ended without a word: killed by a signal (SIGKILL, the out-of-memory killer, or a user)"
	}
	return strings.Join(lines, "; ")
}

// expectEnd says that workers will now close their lifelines on purpose.
func (l *lifeline) expectEnd() {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.ending = true
	l.mu.Unlock()
}

// endJob tells every worker to leave at once (one byte on its lifeline,
// which connectLifeline's reader takes as the end of the job) and waits
// until they have (it reports whether they all did), or until timeout. Rank
// 0 calls it when the launcher did not end the job after a death
// (Coordinator.watchDeaths).
func (l *lifeline) endJob(timeout time.Duration) bool {
	if l == nil {
		return false
	}
	l.expectEnd()
	l.ln.Close()
	l.mu.Lock()
	for _, c := range l.conns {
		_ = c.SetWriteDeadline(time.Now().Add(timeout))
		_, _ = c.Write([]byte{endByte})
	}
	l.mu.Unlock()
	done := make(chan struct{})
	go func() {
		l.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// endByte, sent by rank 0 on a worker's lifeline, asks the worker to leave.
const endByte = 'E'

// close stops listening and waits for the readers.
func (l *lifeline) close() {
	if l == nil {
		return
	}
	l.expectEnd()
	l.ln.Close()
	l.mu.Lock()
	for _, c := range l.conns {
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
	}
	l.mu.Unlock()
	l.wg.Wait()
}

// connectLifeline is a worker's end: connect, prove the secret, and make
// the connection this process's standard error.
func connectLifeline(rank int, info lifelineInfo, log *slog.Logger) {
	var conn net.Conn
	var err error
	for _, a := range info.Addrs {
		network := "tcp"
		if strings.HasPrefix(a, "@") {
			network = "unix"
		}
		if conn, err = net.DialTimeout(network, a, 2*time.Second); err == nil {
			break
		}
	}
	if conn == nil {
		log.Warn("lifeline: cannot reach rank 0; a death of this rank will be reported without its reason", "err", err)
		return
	}
	hello := make([]byte, secretLen+4)
	copy(hello, info.Secret)
	binary.BigEndian.PutUint32(hello[secretLen:], uint32(rank))
	if _, err := conn.Write(hello); err != nil {
		log.Warn("lifeline: handshake", "err", err)
		conn.Close()
		return
	}
	withFile, ok := conn.(interface{ File() (*os.File, error) }) // *net.TCPConn, *net.UnixConn
	if !ok {
		conn.Close()
		return
	}
	file, err := withFile.File() // a duplicate descriptor, in blocking mode
	conn.Close()
	if err != nil {
		log.Warn("lifeline: descriptor", "err", err)
		return
	}
	defer file.Close()
	// Once rank 0 is gone, writes to stderr fail with EPIPE instead of
	// killing this process with SIGPIPE (Go's rule for descriptors 1 and 2).
	signal.Ignore(syscall.SIGPIPE)
	if err := syscall.Dup3(int(file.Fd()), 2, 0); err != nil {
		log.Warn("lifeline: redirect stderr", "err", err)
	}
	// Rank 0 writes here only to end the job after a death (lifeline.endJob):
	// then this rank leaves at once. Otherwise a read returns when rank 0
	// closed the connection, at the end of the job or by dying. In an
	// orderly end this rank has finished well within rankZeroGrace. If rank
	// 0 died, OpenMPI's mpirun ends the job, but MPICH's Hydra, started with
	// -disable-auto-cleanup (Coordinator.watchDeaths says why), would leave
	// the workers waiting for it forever: they leave by themselves.
	var b [1]byte
	if n, _ := file.Read(b[:]); n == 1 && b[0] == endByte {
		os.Exit(1)
	}
	time.Sleep(rankZeroGrace)
	os.Exit(1)
}

// rankZeroGrace is how long a worker outlives its lifeline to rank 0
// (connectLifeline).
const rankZeroGrace = 10 * time.Second
