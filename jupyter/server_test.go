//go:build cgo

package jupyter

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
)

func startServer(t testing.TB, h Handler) (*Server, ConnectionInfo, chan error) {
	t.Helper()
	info, err := NewConnectionInfo("")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Listen(info, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), h) }()
	t.Cleanup(func() { srv.Close() })
	return srv, info, done
}

// dealer is a Go-side frontend socket for tests that need no Python: a
// libzmq DEALER with the given identity (none if id is ""). Each test uses
// its sockets from one goroutine only; receives time out after 10 s.
func dealer(t *testing.T, info ConnectionInfo, port int, id string) *zmq.Socket {
	t.Helper()
	return clientSocket(t, zmq.DEALER, info, port, id)
}

func clientSocket(t *testing.T, typ zmq.Type, info ConnectionInfo, port int, id string) *zmq.Socket {
	t.Helper()
	d, err := zmq.NewSocket(typ)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	if err := d.SetRcvtimeo(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if id != "" {
		if err := d.SetIdentity(id); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Connect("tcp://" + net.JoinHostPort(info.IP, strconv.Itoa(port))); err != nil {
		t.Fatal(err)
	}
	return d
}

func sendReq(t *testing.T, s *Signer, d *zmq.Socket, typ MsgType, content string) *Message {
	t.Helper()
	m := &Message{Header: NewHeader(typ, "client-session", "tester"), Content: json.RawMessage(content)}
	frames, err := s.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.SendMessage(frames); err != nil {
		t.Fatal(err)
	}
	return m
}

// recvMsg waits (up to the socket's 10 s receive timeout) for a message and
// authenticates it.
func recvMsg(t *testing.T, s *Signer, d *zmq.Socket) *Message {
	t.Helper()
	frames, err := d.RecvMessageBytes(0)
	if err != nil {
		t.Fatalf("no reply: %v", err)
	}
	m, err := s.Decode(frames)
	if err != nil {
		t.Fatalf("decode reply: %v", err)
	}
	return m
}

func TestServeReplyRoutingAndClose(t *testing.T) {
	before := runtime.NumGoroutine()
	h := HandlerFunc(func(r *Request) {
		if err := r.Reply(MsgType(strings.Replace(string(r.Msg().Header.MsgType), "_request", "_reply", 1)),
			map[string]string{"channel": r.Channel().String()}, map[string]any{"m": 1}); err != nil {
			t.Errorf("reply: %v", err)
		}
	})
	srv, info, done := startServer(t, h)
	signer, _ := NewSigner(info.SignatureScheme, info.Key)

	sh := dealer(t, info, info.ShellPort, "frontend-A")
	ctl := dealer(t, info, info.ControlPort, "frontend-A")
	req := sendReq(t, signer, sh, MsgKernelInfoRequest, `{}`)
	rep := recvMsg(t, signer, sh)
	if rep.Header.MsgType != MsgKernelInfoReply || rep.ParentHeader != req.Header || string(rep.Content) != `{"channel":"shell"}` {
		t.Errorf("shell reply %+v %s", rep.Header, rep.Content)
	}
	if rep.Header.Session != srv.Session() || rep.Header.Username != "tester" {
		t.Errorf("reply header %+v", rep.Header)
	}
	if rep.Metadata["m"] != 1.0 {
		t.Errorf("metadata %v", rep.Metadata)
	}
	req = sendReq(t, signer, ctl, MsgShutdownRequest, `{"restart":false}`)
	rep = recvMsg(t, signer, ctl)
	if rep.Header.MsgType != MsgShutdownReply || rep.ParentHeader.MsgID != req.Header.MsgID || string(rep.Content) != `{"channel":"control"}` {
		t.Errorf("control reply %+v %s", rep.Header, rep.Content)
	}

	// Heartbeat echoes.
	hb := clientSocket(t, zmq.REQ, info, info.HBPort, "")
	if _, err := hb.Send("ping", 0); err != nil {
		t.Fatal(err)
	}
	if m, err := hb.Recv(0); err != nil || m != "ping" {
		t.Errorf("heartbeat echo %q %v", m, err)
	}

	if err := srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after Close = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Close")
	}
	if err := srv.Publish(nil, MsgStatus, Status{ExecutionState: StateIdle}, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
	if err := srv.Serve(context.Background(), h); err == nil {
		t.Error("second Serve succeeded")
	}
	sh.Close()
	ctl.Close()
	hb.Close()
	// Every goroutine of the server has ended by the time Close returns.
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines: %d before, %d after Close\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

func TestControlWhileShellBusyAndPanics(t *testing.T) {
	release := make(chan struct{})
	h := HandlerFunc(func(r *Request) {
		switch r.Msg().Header.MsgType {
		case MsgExecuteRequest:
			<-release
			r.Reply(MsgExecuteReply, ExecuteReply{Status: StatusOK}, nil)
		case "panic_request":
			panic("handler bug")
		default:
			r.Reply(MsgKernelInfoReply, KernelInfoReply{}, nil)
		}
	})
	_, info, _ := startServer(t, h)
	signer, _ := NewSigner(info.SignatureScheme, info.Key)
	sh := dealer(t, info, info.ShellPort, "f")
	ctl := dealer(t, info, info.ControlPort, "f")
	sendReq(t, signer, sh, MsgExecuteRequest, `{"code":"block"}`)
	sendReq(t, signer, ctl, "panic_request", `{}`)
	sendReq(t, signer, ctl, MsgKernelInfoRequest, `{}`)
	if rep := recvMsg(t, signer, ctl); rep.Header.MsgType != MsgKernelInfoReply {
		t.Errorf("control reply %v", rep.Header.MsgType)
	}
	close(release)
	if rep := recvMsg(t, signer, sh); rep.Header.MsgType != MsgExecuteReply {
		t.Errorf("shell reply %v", rep.Header.MsgType)
	}
}

func TestConcurrentPublish(t *testing.T) {
	srv, info, _ := startServer(t, HandlerFunc(func(*Request) {}))
	signer, _ := NewSigner(info.SignatureScheme, info.Key)
	sub := clientSocket(t, zmq.SUB, info, info.IOPubPort, "")
	if err := sub.SetSubscribe(""); err != nil {
		t.Fatal(err)
	}
	// Subscriptions are asynchronous: publish until the first one arrives.
	got := subscribe(t, sub, signer)
	deadline := time.After(10 * time.Second)
wait:
	for {
		srv.Publish(nil, MsgStatus, Status{ExecutionState: StateStarting}, nil)
		select {
		case <-got:
			break wait
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatal("no iopub message arrived")
		}
	}
	const workers, each = 8, 50
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := srv.Publish(nil, MsgStream, Stream{Name: StreamStdout, Text: strings.Repeat("x", 300*w)}, nil); err != nil {
					t.Errorf("publish: %v", err)
				}
			}
		}(w)
	}
	wg.Wait()
	n := 0
	timeout := time.After(10 * time.Second)
	for n < workers*each {
		select {
		case m := <-got:
			if m.Header.MsgType == MsgStream {
				n++
			}
		case <-timeout:
			t.Fatalf("received %d of %d stream messages", n, workers*each)
		}
	}
}

// subscribe hands sub to a reader goroutine, which owns it from then on and
// delivers every authenticated message; it stops when the test ends.
func subscribe(t *testing.T, sub *zmq.Socket, signer *Signer) <-chan *Message {
	t.Helper()
	if err := sub.SetRcvtimeo(50 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	got := make(chan *Message, 1000)
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			default:
			}
			frames, err := sub.RecvMessageBytes(0)
			if err != nil {
				continue // timeout: look at stop again
			}
			m, err := signer.Decode(frames)
			if err != nil {
				t.Errorf("decode iopub: %v", err)
				continue
			}
			select {
			case got <- m:
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-stopped })
	return got
}

func TestInputNotAllowed(t *testing.T) {
	result := make(chan error, 1)
	h := HandlerFunc(func(r *Request) {
		_, err := r.Input(context.Background(), "?", false)
		result <- err
	})
	_, info, _ := startServer(t, h)
	signer, _ := NewSigner(info.SignatureScheme, info.Key)
	sendReq(t, signer, dealer(t, info, info.ShellPort, "f"), MsgExecuteRequest, `{"code":"","allow_stdin":false}`)
	select {
	case err := <-result:
		if !errors.Is(err, ErrStdinNotAllowed) {
			t.Errorf("Input = %v, want ErrStdinNotAllowed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("handler not called")
	}
}

func TestInputCancelledByClose(t *testing.T) {
	result := make(chan error, 1)
	h := HandlerFunc(func(r *Request) {
		_, err := r.Input(context.Background(), "?", false)
		result <- err
	})
	srv, info, _ := startServer(t, h)
	signer, _ := NewSigner(info.SignatureScheme, info.Key)
	stdin := dealer(t, info, info.StdinPort, "f")
	sendReq(t, signer, dealer(t, info, info.ShellPort, "f"), MsgExecuteRequest, `{"code":""}`)
	if m := recvMsg(t, signer, stdin); m.Header.MsgType != MsgInputRequest {
		t.Fatalf("got %s on stdin", m.Header.MsgType)
	}
	srv.Close()
	select {
	case err := <-result:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Input = %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Input did not return on Close")
	}
}

func TestListenErrors(t *testing.T) {
	info, err := NewConnectionInfo("")
	if err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", net.JoinHostPort(info.IP, strconv.Itoa(info.ControlPort)))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, err = Listen(info, nil)
	if err == nil || !strings.Contains(err.Error(), "control socket") || !strings.Contains(err.Error(), strconv.Itoa(info.ControlPort)) {
		t.Errorf("Listen on busy port: %v, want mention of control socket and port", err)
	}
	// The sockets bound before the failure were released.
	l, err := net.Listen("tcp", net.JoinHostPort(info.IP, strconv.Itoa(info.ShellPort)))
	if err != nil {
		t.Errorf("shell port still bound after failed Listen: %v", err)
	} else {
		l.Close()
	}
	bad := info
	bad.SignatureScheme = "rot13"
	if _, err := Listen(bad, nil); err == nil {
		t.Error("Listen accepted an unknown signature scheme")
	}
}

func TestListenAllInterfaces(t *testing.T) {
	for _, ip := range []string{"*", "0.0.0.0"} {
		info, err := NewConnectionInfo(ip)
		if err != nil {
			t.Fatal(err)
		}
		if info.IP != "0.0.0.0" {
			t.Errorf("NewConnectionInfo(%q).IP = %q, want 0.0.0.0", ip, info.IP)
		}
		info.IP = ip // Listen must accept the zmq spelling too
		srv, err := Listen(info, nil)
		if err != nil {
			t.Fatalf("%s: %v", ip, err)
		}
		addr := srv.endpoints[Shell]
		srv.Close()
		if !strings.HasPrefix(addr, "tcp://0.0.0.0:") {
			t.Errorf("%s bound to %s", ip, addr)
		}
	}
}

func TestChannelString(t *testing.T) {
	want := []string{"shell", "control", "stdin", "iopub", "hb"}
	for i, w := range want {
		if Channel(i).String() != w {
			t.Errorf("Channel(%d) = %s", i, Channel(i))
		}
	}
}
