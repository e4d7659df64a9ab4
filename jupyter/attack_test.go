//go:build cgo

package jupyter

// The attacks of issue 10's first table, each by a local user WITHOUT the
// key, against a Server on 127.0.0.1, with real sockets. Each test asserts
// what the key holder sees: replies, output and heartbeats keep coming.

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// zmtpGreeting is a ZMTP 3.0 greeting for the NULL mechanism (64 bytes), as
// any ZeroMQ peer sends first.
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
	binary.BigEndian.PutUint64(h[1:], uint64(len(body)))
	return append(h, body...)
}

// zmtpReady is the NULL mechanism's READY command for a socket type.
func zmtpReady(socketType string) []byte {
	body := []byte("\x05READY\x0bSocket-Type")
	body = binary.BigEndian.AppendUint32(body, uint32(len(socketType)))
	return zmtpFrame(0x04, append(body, socketType...))
}

// rawPeer connects to port over plain TCP and, unless socketType is "",
// completes its side of the ZMTP handshake. It never reads: that is the
// point of most attacks.
func rawPeer(t *testing.T, info ConnectionInfo, port int, socketType string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", net.JoinHostPort(info.IP, strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if socketType != "" {
		if _, err := c.Write(append(zmtpGreeting(), zmtpReady(socketType)...)); err != nil {
			t.Fatal(err)
		}
		readHandshake(t, c)
	}
	return c
}

// readHandshake reads the server's greeting and READY command: a peer must
// not send messages before the handshake is complete (libzmq drops one that
// does, "unexpected command"). After that, the attackers read nothing.
func readHandshake(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	greeting := make([]byte, 64)
	if _, err := io.ReadFull(c, greeting); err != nil {
		t.Fatalf("server greeting: %v", err)
	}
	flags := make([]byte, 1)
	if _, err := io.ReadFull(c, flags); err != nil {
		t.Fatalf("server READY: %v", err)
	}
	size := make([]byte, 1, 8)
	if flags[0]&0x02 != 0 {
		size = size[:8]
	}
	if _, err := io.ReadFull(c, size); err != nil {
		t.Fatalf("server READY: %v", err)
	}
	n := uint64(size[0])
	if len(size) == 8 {
		n = binary.BigEndian.Uint64(size)
	}
	if _, err := io.CopyN(io.Discard, c, int64(n)); err != nil || flags[0]&0x04 == 0 {
		t.Fatalf("server READY (flags %#x): %v", flags[0], err)
	}
}

// closedByServer reports whether the server closed c within d (reading
// whatever it sent first, e.g. its greeting).
func closedByServer(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// kernelInfoRoundTrip sends kernel_info_request on d and returns how long
// the reply took.
func kernelInfoRoundTrip(t *testing.T, signer *Signer, d *zmq.Socket) time.Duration {
	t.Helper()
	start := time.Now()
	req := sendReq(t, signer, d, MsgKernelInfoRequest, `{}`)
	rep := recvMsg(t, signer, d)
	if rep.Header.MsgType != MsgKernelInfoReply || rep.ParentHeader.MsgID != req.Header.MsgID {
		t.Fatalf("got %s for %s", rep.Header.MsgType, req.Header.MsgID)
	}
	return time.Since(start)
}

// replyKernelInfo answers every request with a kernel_info_reply and
// publishes its output, like a kernel would.
func replyKernelInfo(calls *atomic.Int64) Handler {
	return HandlerFunc(func(r *Request) {
		calls.Add(1)
		r.Publish(MsgStatus, Status{ExecutionState: StateBusy}, nil)
		r.Reply(MsgKernelInfoReply, KernelInfoReply{Implementation: "test"}, nil)
		r.Publish(MsgStatus, Status{ExecutionState: StateIdle}, nil)
	})
}

func startServerWith(t *testing.T, opts Options, log *slog.Logger, h Handler) (*Server, ConnectionInfo) {
	t.Helper()
	info, err := NewConnectionInfo("")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ListenWith(info, log, opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(context.Background(), h)
	t.Cleanup(func() { srv.Close() })
	return srv, info
}

// (a) A greeting and a frame header announcing 2^40 bytes (73 bytes in all)
// killed rank 0 with go-zeromq/zmq4 (it allocated the announced size).
func TestAttackHugeFrameHeader(t *testing.T) {
	var calls atomic.Int64
	_, info := startServerWith(t, Options{}, nil, replyKernelInfo(&calls))
	signer, _ := NewSigner(info.SignatureScheme, info.Key)
	for _, port := range []int{info.ShellPort, info.ControlPort, info.StdinPort, info.IOPubPort, info.HBPort} {
		c := rawPeer(t, info, port, "")
		hdr := make([]byte, 9)
		hdr[0] = 0x06 // long command frame
		binary.BigEndian.PutUint64(hdr[1:], 1<<40)
		attack := append(zmtpGreeting(), hdr...)
		if len(attack) != 73 {
			t.Fatalf("attack is %d bytes", len(attack))
		}
		if _, err := c.Write(attack); err != nil {
			t.Fatal(err)
		}
		if !closedByServer(c, 5*time.Second) {
			t.Errorf("port %d: connection announcing 2^40 bytes still open after 5 s", port)
		}
	}
	sh := dealer(t, info, info.ShellPort, "key-holder")
	for i := 0; i < 3; i++ {
		if d := kernelInfoRoundTrip(t, signer, sh); d > 2*time.Second {
			t.Errorf("kernel_info took %v after the attack", d)
		}
	}
	// Bigger than the limit but honest about it: dropped the same way.
	_, info2 := startServerWith(t, Options{MaxMessageSize: 1 << 20}, nil, replyKernelInfo(&calls))
	c := rawPeer(t, info2, info2.ShellPort, "DEALER")
	// The server may drop the connection while the frame is still being
	// written: the write then fails, which is the same verdict.
	_, err := c.Write(zmtpFrame(0, make([]byte, 2<<20)))
	if err == nil && !closedByServer(c, 5*time.Second) {
		t.Error("a 2 MiB frame over a 1 MiB MaxMessageSize did not close the connection")
	}
}

// (b) One TCP connection that sends nothing stalled every new client of
// go-zeromq/zmq4 (handshake inline on the accept loop, no deadline).
func TestAttackSilentConnection(t *testing.T) {
	var calls atomic.Int64
	_, info := startServerWith(t, Options{HandshakeTimeout: 500 * time.Millisecond}, nil, replyKernelInfo(&calls))
	signer, _ := NewSigner(info.SignatureScheme, info.Key)
	var silent []net.Conn
	for i := 0; i < 10; i++ {
		silent = append(silent, rawPeer(t, info, info.ShellPort, ""))
	}
	// New clients, each on a fresh connection, are answered promptly.
	for i := 0; i < 3; i++ {
		sh := dealer(t, info, info.ShellPort, "")
		if d := kernelInfoRoundTrip(t, signer, sh); d > 2*time.Second {
			t.Errorf("client %d answered after %v with 10 silent connections open", i, d)
		}
	}
	// The handshake deadline drops the silent ones.
	for i, c := range silent {
		if !closedByServer(c, 5*time.Second) {
			t.Errorf("silent connection %d still open 5 s after a 500 ms handshake deadline", i)
		}
	}
}

// pendingBytes reads for up to d what the server had sent c: proof that an
// attacker's socket was a real peer (subscribed, echoed), not one the server
// ignored from the start.
func pendingBytes(c net.Conn, d time.Duration) int64 {
	c.SetReadDeadline(time.Now().Add(d))
	n, _ := io.Copy(io.Discard, io.LimitReader(c, 64<<20))
	return n
}

// rss is this process's resident set size in bytes.
func rss(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// (c) A subscriber that never reads stalled the key holder's 9.6 MB cell
// after 2.75 MB with go-zeromq/zmq4, and rank 0's memory grew.
func TestAttackStalledSubscriber(t *testing.T) {
	var calls atomic.Int64
	srv, info := startServerWith(t, Options{}, nil, replyKernelInfo(&calls))
	signer, _ := NewSigner(info.SignatureScheme, info.Key)

	stalled := rawPeer(t, info, info.IOPubPort, "SUB")
	if _, err := stalled.Write(zmtpFrame(0, []byte{1})); err != nil { // subscribe to everything
		t.Fatal(err)
	}
	sub := clientSocket(t, zmq.SUB, info, info.IOPubPort, "")
	if err := sub.SetSubscribe(""); err != nil {
		t.Fatal(err)
	}
	got := subscribe(t, sub, signer)
	waitSubscribed(t, srv, got)

	// Two rounds of 128 MiB, in batches the reading subscriber keeps up
	// with: it must get every message while the stalled one's queue is
	// full (messages are dropped for the subscriber that does not read,
	// not for the others). The queues fill during the first round; memory
	// must not grow further in the second. go-zeromq/zmq4 grew with every
	// message.
	const chunk, n, batch = 16 << 10, 8192, 200
	text := strings.Repeat("x", chunk)
	published, received := 0, 0
	var rounds [3]int64
	rounds[0] = rss(t)
	start := time.Now()
	for r := 1; r <= 2; r++ {
		for i := 0; i < n; i += batch {
			for j := 0; j < batch; j++ {
				if err := srv.Publish(nil, MsgStream, Stream{Name: StreamStdout, Text: text}, nil); err != nil {
					t.Fatalf("publish %d: %v", published, err)
				}
				published++
			}
			timeout := time.After(10 * time.Second)
			for received < published {
				select {
				case m := <-got:
					if m.Header.MsgType == MsgStream {
						received++
					}
				case <-timeout:
					t.Fatalf("the reading subscriber got %d of %d messages: it lost some", received, published)
				}
			}
		}
		rounds[r] = rss(t)
	}
	elapsed := time.Since(start)
	first, second := rounds[1]-rounds[0], rounds[2]-rounds[1]
	t.Logf("published %d MiB in %v; the reading subscriber got all %d messages; RSS grew %d MiB in the first 128 MiB, %+d MiB in the second",
		published*chunk>>20, elapsed.Round(time.Millisecond), received, first>>20, second>>20)
	if first > 96<<20 || second > 16<<20 {
		t.Errorf("RSS grew %d MiB, then %d MiB while a subscriber did not read", first>>20, second>>20)
	}
	if n := pendingBytes(stalled, time.Second); n < 1<<20 {
		t.Errorf("the stalled subscriber had only %d bytes waiting: was it subscribed?", n)
	}
	// The key holder's publishes still arrive, and so do its replies.
	waitSubscribed(t, srv, got)
	sh := dealer(t, info, info.ShellPort, "key-holder")
	if d := kernelInfoRoundTrip(t, signer, sh); d > 2*time.Second {
		t.Errorf("kernel_info took %v with a stalled subscriber", d)
	}
	// Close does not hang on the stalled subscriber's queue.
	start = time.Now()
	srv.Close()
	if d := time.Since(start); d > DefaultLinger+2*time.Second {
		t.Errorf("Close took %v with a stalled subscriber", d)
	}
}

// waitSubscribed publishes a starting status until one arrives on got:
// subscriptions take effect asynchronously.
func waitSubscribed(t *testing.T, srv *Server, got <-chan *Message) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := srv.Publish(nil, MsgStatus, Status{ExecutionState: StateStarting}, nil); err != nil {
			t.Fatal(err)
		}
		for {
			select {
			case m := <-got:
				if m.Header.MsgType == MsgStatus {
					return
				}
				continue
			case <-tick.C:
			case <-deadline:
				t.Fatal("no iopub message arrived")
			}
			break
		}
	}
}

// (d) Big pings on hb from a peer that never reads blocked go-zeromq/zmq4's
// echo for everybody: the key holder's heartbeat went unanswered for 5 s.
func TestAttackHeartbeatNotRead(t *testing.T) {
	var calls atomic.Int64
	_, info := startServerWith(t, Options{}, nil, replyKernelInfo(&calls))
	abuser := rawPeer(t, info, info.HBPort, "DEALER")
	ping := zmtpFrame(0, make([]byte, 60<<10)) // under DefaultMaxPingSize
	flood := make(chan int64, 1)
	go func() {
		var sent int64
		defer func() { flood <- sent }()
		deadline := time.Now().Add(4 * time.Second)
		abuser.SetWriteDeadline(deadline)
		for time.Now().Before(deadline) && sent < 256<<20 { // bounded: the machine is shared
			if _, err := abuser.Write(ping); err != nil {
				return
			}
			sent += int64(len(ping))
		}
	}()
	hb := clientSocket(t, zmq.REQ, info, info.HBPort, "")
	var worst time.Duration
	for i := 0; i < 20; i++ {
		start := time.Now()
		if _, err := hb.Send("ping", 0); err != nil {
			t.Fatal(err)
		}
		if m, err := hb.Recv(0); err != nil || m != "ping" {
			t.Fatalf("heartbeat %d: %q %v", i, m, err)
		}
		worst = max(worst, time.Since(start))
		time.Sleep(100 * time.Millisecond) // a frontend pings about once a second
	}
	sent := <-flood
	t.Logf("abuser sent %d MiB of pings; the key holder's slowest echo took %v", sent>>20, worst)
	if worst > time.Second {
		t.Errorf("heartbeat echo took %v while another peer did not read", worst)
	}
	if n := pendingBytes(abuser, time.Second); n < 1<<20 {
		t.Errorf("the abuser had only %d bytes of echoes waiting: was it a peer?", n)
	}
	// A ping over MaxPingSize ends the abuser's connection.
	big := rawPeer(t, info, info.HBPort, "DEALER")
	big.Write(zmtpFrame(0, make([]byte, DefaultMaxPingSize+1)))
	if !closedByServer(big, 5*time.Second) {
		t.Error("a ping over MaxPingSize did not close the connection")
	}
}

// (e) With go-zeromq/zmq4, a DEALER connecting with the victim's session id
// as identity (readable on iopub) received copies of the victim's replies.
func TestAttackDuplicateIdentity(t *testing.T) {
	var calls atomic.Int64
	_, info := startServerWith(t, Options{}, nil, replyKernelInfo(&calls))
	signer, _ := NewSigner(info.SignatureScheme, info.Key)
	victim := dealer(t, info, info.ShellPort, "victim-session")
	kernelInfoRoundTrip(t, signer, victim) // the victim's identity is known to the ROUTER
	thief := dealer(t, info, info.ShellPort, "victim-session")
	// The thief may even send (it cannot sign, so nothing is answered).
	if _, err := thief.SendMessage("<IDS|MSG>", "", "{}", "{}", "{}", "{}"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		kernelInfoRoundTrip(t, signer, victim)
	}
	if err := thief.SetRcvtimeo(500 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if frames, err := thief.RecvMessageBytes(0); err == nil {
		t.Errorf("a second connection with the victim's identity received %d frames", len(frames))
	}
}

// (f) The same correctly signed request sent twice ran the cell twice.
func TestAttackReplay(t *testing.T) {
	var calls atomic.Int64
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	_, info := startServerWith(t, Options{}, log, replyKernelInfo(&calls))
	signer, _ := NewSigner(info.SignatureScheme, info.Key)
	sh := dealer(t, info, info.ShellPort, "key-holder")
	ctl := dealer(t, info, info.ControlPort, "key-holder")
	m := &Message{Header: NewHeader(MsgKernelInfoRequest, "client-session", "tester"), Content: []byte(`{}`)}
	frames, err := signer.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := sh.SendMessage(frames); err != nil {
			t.Fatal(err)
		}
	}
	if rep := recvMsg(t, signer, sh); rep.ParentHeader.MsgID != m.Header.MsgID {
		t.Fatalf("reply to %s", rep.ParentHeader.MsgID)
	}
	// The same bytes once more, on another channel.
	if _, err := ctl.SendMessage(frames); err != nil {
		t.Fatal(err)
	}
	// A fresh request on each channel is served after the replays, so by
	// its reply the replays have been looked at.
	kernelInfoRoundTrip(t, signer, sh)
	kernelInfoRoundTrip(t, signer, ctl)
	if n := calls.Load(); n != 3 {
		t.Errorf("handler ran %d times, want 3 (one original, two fresh, no replays)", n)
	}
	if c := strings.Count(logs.String(), "duplicate signature"); c != 2 {
		t.Errorf("%d replays logged, want 2; log:\n%s", c, logs.String())
	}
}
