package tests

// Issue 10's transport attacks, each by a local user WITHOUT the key (or, for
// the replay, with nothing but captured bytes), against a real 4-rank kernel
// on 127.0.0.1. Every loop is bounded and every attacker stops by itself.

import (
	be "encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gompi-kernel/gompi-kernel/jupyter"
	zmq "github.com/pebbe/zmq4"
)

// zmtpGreeting is a ZMTP 3.0 greeting for the NULL mechanism (64 bytes).
func zmtpGreeting() []byte {
	g := make([]byte, 64)
	g[0], g[9] = 0xff, 0x7f
	g[10], g[11] = 3, 0
	copy(g[12:], "NULL")
	return g
}

// zmtpFrame encodes one ZMTP frame; flags: 0x01 more, 0x04 command.
func zmtpFrame(flags byte, body []byte) []byte {
	if len(body) < 256 {
		return append([]byte{flags, byte(len(body))}, body...)
	}
	h := make([]byte, 9, 9+len(body))
	h[0] = flags | 0x02
	be.BigEndian.PutUint64(h[1:], uint64(len(body)))
	return append(h, body...)
}

// rawPeer opens a plain TCP connection to a kernel port and, unless
// socketType is "", sends its side of the ZMTP handshake. It never reads.
func rawPeer(t *testing.T, port int, socketType string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if socketType != "" {
		body := []byte("\x05READY\x0bSocket-Type")
		body = be.BigEndian.AppendUint32(body, uint32(len(socketType)))
		ready := zmtpFrame(0x04, append(body, socketType...))
		if _, err := c.Write(append(zmtpGreeting(), ready...)); err != nil {
			t.Fatal(err)
		}
		readHandshake(t, c)
	}
	return c
}

// readHandshake reads the kernel's greeting and READY command: a peer must
// not send messages before the handshake is complete (libzmq drops one that
// does, "unexpected command"). After that, the attackers read nothing.
func readHandshake(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	greeting := make([]byte, 64)
	if _, err := io.ReadFull(c, greeting); err != nil {
		t.Fatalf("kernel greeting: %v", err)
	}
	flags := make([]byte, 1)
	if _, err := io.ReadFull(c, flags); err != nil {
		t.Fatalf("kernel READY: %v", err)
	}
	size := make([]byte, 1, 8)
	if flags[0]&0x02 != 0 {
		size = size[:8]
	}
	if _, err := io.ReadFull(c, size); err != nil {
		t.Fatalf("kernel READY: %v", err)
	}
	n := uint64(size[0])
	if len(size) == 8 {
		n = be.BigEndian.Uint64(size)
	}
	if _, err := io.CopyN(io.Discard, c, int64(n)); err != nil || flags[0]&0x04 == 0 {
		t.Fatalf("kernel READY (flags %#x): %v", flags[0], err)
	}
}

// closedByServer reports whether the kernel closed c within d.
func closedByServer(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// keyHolder is a Go-side frontend socket that holds the key.
type keyHolder struct {
	t      *testing.T
	sock   *zmq.Socket
	signer *jupyter.Signer
}

func newKeyHolder(t *testing.T, info jupyter.ConnectionInfo, port int, identity string) *keyHolder {
	t.Helper()
	s, err := zmq.NewSocket(zmq.DEALER)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, err := range []error{s.SetLinger(0), s.SetRcvtimeo(30 * time.Second), s.SetIdentity(identity),
		s.Connect(fmt.Sprintf("tcp://127.0.0.1:%d", port))} {
		if err != nil {
			t.Fatal(err)
		}
	}
	signer, err := jupyter.NewSigner(info.SignatureScheme, info.Key)
	if err != nil {
		t.Fatal(err)
	}
	return &keyHolder{t: t, sock: s, signer: signer}
}

// frames signs a request.
func (k *keyHolder) frames(typ jupyter.MsgType, content string) (*jupyter.Message, [][]byte) {
	k.t.Helper()
	m := &jupyter.Message{Header: jupyter.NewHeader(typ, "reliability-test", "tester"), Content: []byte(content)}
	f, err := k.signer.Encode(m)
	if err != nil {
		k.t.Fatal(err)
	}
	return m, f
}

func (k *keyHolder) send(frames [][]byte) {
	k.t.Helper()
	if _, err := k.sock.SendMessage(frames); err != nil {
		k.t.Fatal(err)
	}
}

// reply waits for the next authenticated message on the socket.
func (k *keyHolder) reply() *jupyter.Message {
	k.t.Helper()
	f, err := k.sock.RecvMessageBytes(0)
	if err != nil {
		k.t.Fatalf("no reply: %v", err)
	}
	m, err := k.signer.Decode(f)
	if err != nil {
		k.t.Fatalf("reply: %v", err)
	}
	return m
}

// rssOf is the resident set size of pid in bytes (0 if it is gone).
func rssOf(pid int) int64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestReliability runs issue 10's first table against one 4-rank kernel;
// the attackers of (b), (c) and (d) stay active while the key holder
// executes a cell that prints 10 MB across the ranks.
func TestReliability(t *testing.T) {
	k := startKernel(t, 4)
	info, err := jupyter.ReadConnectionFile(k.connFile)
	if err != nil {
		t.Fatal(err)
	}
	drive(t, k.connFile, action{"do": "kernel_info"}) // ready

	t.Run("huge frame header", func(t *testing.T) {
		for _, port := range []int{info.ShellPort, info.ControlPort, info.StdinPort, info.IOPubPort, info.HBPort} {
			c := rawPeer(t, port, "")
			hdr := make([]byte, 9)
			hdr[0] = 0x06 // long command frame
			be.BigEndian.PutUint64(hdr[1:], 1<<40)
			if _, err := c.Write(append(zmtpGreeting(), hdr...)); err != nil {
				t.Fatal(err)
			}
			if !closedByServer(c, 10*time.Second) {
				t.Errorf("port %d: the connection that announced 2^40 bytes is still open", port)
			}
		}
	})

	// (b) Silent connections on shell and control, open for the rest of
	// the test.
	for i := 0; i < 5; i++ {
		rawPeer(t, info.ShellPort, "")
		rawPeer(t, info.ControlPort, "")
	}

	// (c) A subscriber that never reads.
	stalled := rawPeer(t, info.IOPubPort, "SUB")
	if _, err := stalled.Write(zmtpFrame(0, []byte{1})); err != nil { // subscribe to everything
		t.Fatal(err)
	}

	// (d) Big pings on hb, never reading the echoes: about 24 MB/s until
	// the test ends, at most 120 s.
	stopFlood := make(chan struct{})
	var flood sync.WaitGroup
	var flooded int64
	abuser := rawPeer(t, info.HBPort, "DEALER")
	flood.Add(1)
	go func() {
		defer flood.Done()
		ping := zmtpFrame(0, make([]byte, 60<<10))
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		deadline := time.After(120 * time.Second)
		for {
			select {
			case <-stopFlood:
				return
			case <-deadline:
				return
			case <-tick.C:
			}
			abuser.SetWriteDeadline(time.Now().Add(time.Second))
			for i := 0; i < 4; i++ {
				if _, err := abuser.Write(ping); err != nil {
					return
				}
				flooded += int64(len(ping))
			}
		}
	}()
	stop := sync.OnceFunc(func() { close(stopFlood); flood.Wait() })
	defer stop()

	t.Run("duplicate identity", func(t *testing.T) {
		victim := newKeyHolder(t, info, info.ShellPort, "victim-session")
		_, f := victim.frames(jupyter.MsgKernelInfoRequest, `{}`)
		victim.send(f)
		victim.reply()
		thief := newKeyHolder(t, info, info.ShellPort, "victim-session")
		m, f := victim.frames(jupyter.MsgExecuteRequest, `{"code":"fmt.Println(\"for the victim\")","silent":false}`)
		victim.send(f)
		if r := victim.reply(); r.ParentHeader.MsgID != m.Header.MsgID || r.Header.MsgType != jupyter.MsgExecuteReply {
			t.Fatalf("victim got %s", r.Header.MsgType)
		}
		if err := thief.sock.SetRcvtimeo(time.Second); err != nil {
			t.Fatal(err)
		}
		if f, err := thief.sock.RecvMessageBytes(0); err == nil {
			t.Errorf("a second connection with the victim's identity received %d frames", len(f))
		}
	})

	t.Run("replay", func(t *testing.T) {
		kh := newKeyHolder(t, info, info.ShellPort, "replayer")
		m, f := kh.frames(jupyter.MsgExecuteRequest, `{"code":"fmt.Println(\"replayed?\")","silent":false}`)
		kh.send(f)
		kh.send(f)
		probe, pf := kh.frames(jupyter.MsgKernelInfoRequest, `{}`)
		kh.send(pf)
		executed := 0
		for {
			r := kh.reply()
			if r.ParentHeader.MsgID == m.Header.MsgID {
				executed++
			}
			if r.ParentHeader.MsgID == probe.Header.MsgID {
				break
			}
		}
		if executed != 1 {
			t.Errorf("the same signed execute_request sent twice was answered %d times", executed)
		}
	})

	// The key holder, with (b), (c) and (d) still at it.
	ranks := processesOf(binary)
	before := map[int]int64{}
	for _, pid := range ranks {
		before[pid] = rssOf(pid)
	}
	res := drive(t, k.connFile,
		action{"do": "execute", "probe_after": 0.5, "code": `time.Sleep(time.Second)
if mpi.Rank() == 3 {
	pad := strings.Repeat("x", 91)
	for i := 0; i < 100000; i++ { fmt.Printf("%07d %s\n", i, pad) }
}`},
		action{"do": "heartbeat"},
		action{"do": "kernel_info", "channel": "control"},
	)
	if s := res[0].status(); s != "ok" {
		t.Errorf("10 MB cell: status %q", s)
	}
	out := res[0].stream("stdout")
	if lines := strings.Count(out, "\n"); lines != 100000 || len(out) != 100000*104 {
		t.Errorf("10 MB cell: %d lines, %d bytes arrived, want 100000 lines, %d bytes", lines, len(out), 100000*104)
	}
	if p := res[0].of("probe"); len(p) != 1 || p[0].Content["beating"] != true || p[0].Content["control_reply"] != "kernel_info_reply" {
		t.Errorf("while the cell ran: heartbeat and control probe %v", p)
	}
	if !res[1].Beating {
		t.Error("heartbeat not beating after the cell")
	}
	if res[2].Channel != "control" || !res[2].Parent {
		t.Errorf("control kernel_info: %+v", res[2])
	}
	var grew []string
	for _, pid := range ranks {
		after := rssOf(pid)
		grew = append(grew, fmt.Sprintf("pid %d %+d MiB", pid, (after-before[pid])>>20))
		if after-before[pid] > 256<<20 {
			t.Errorf("pid %d grew %d MiB during a 10 MB cell with a stalled subscriber", pid, (after-before[pid])>>20)
		}
	}
	t.Logf("10 MB cell took %.2f s with 10 silent connections, a stalled subscriber and a heartbeat flood; RSS: %s",
		res[0].Seconds, strings.Join(grew, ", "))
	stop()
	t.Logf("heartbeat abuser sent %d MiB of pings", flooded>>20)
	// The attackers were real peers: output and echoes were queued for
	// them (and dropped once their queues were full).
	for name, c := range map[string]net.Conn{"stalled subscriber": stalled, "heartbeat abuser": abuser} {
		c.SetReadDeadline(time.Now().Add(time.Second))
		if n, _ := io.Copy(io.Discard, io.LimitReader(c, 64<<20)); n < 1<<20 {
			t.Errorf("the %s had only %d bytes waiting: was it a peer?", name, n)
		} else {
			t.Logf("the %s had %d KiB waiting", name, n>>10)
		}
	}

	select {
	case <-k.done:
		t.Fatalf("kernel died: %v\nstderr:\n%s", k.err, k.stderr)
	default:
	}
	drive(t, k.connFile, action{"do": "shutdown"})
	if err := k.wait(30 * time.Second); err != nil {
		t.Errorf("shutdown after the attacks: %v\nstderr:\n%s", err, k.stderr)
	}
}
