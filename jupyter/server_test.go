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

	"github.com/go-zeromq/zmq4"
)

func startServer(t *testing.T, h Handler) (*Server, ConnectionInfo, chan error) {
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

// dealer is a Go-side frontend socket for tests that need no Python.
func dealer(t *testing.T, info ConnectionInfo, port int, id string) zmq4.Socket {
	t.Helper()
	d := zmq4.NewDealer(context.Background(), zmq4.WithID(zmq4.SocketIdentity(id)))
	if err := d.Dial("tcp://" + net.JoinHostPort(info.IP, strconv.Itoa(port))); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func sendReq(t *testing.T, s *Signer, d zmq4.Socket, typ MsgType, content string) *Message {
	t.Helper()
	m := &Message{Header: NewHeader(typ, "client-session", "tester"), Content: json.RawMessage(content)}
	frames, err := s.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SendMulti(zmq4.NewMsgFrom(frames...)); err != nil {
		t.Fatal(err)
	}
	return m
}

func recvMsg(t *testing.T, s *Signer, d zmq4.Socket) *Message {
	t.Helper()
	ch := make(chan zmq4.Msg, 1)
	go func() {
		m, err := d.Recv()
		if err == nil {
			ch <- m
		}
	}()
	select {
	case zm := <-ch:
		m, err := s.Decode(zm.Frames)
		if err != nil {
			t.Fatalf("decode reply: %v", err)
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no reply")
	}
	return nil
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
	hb := zmq4.NewReq(context.Background())
	defer hb.Close()
	if err := hb.Dial("tcp://" + net.JoinHostPort(info.IP, strconv.Itoa(info.HBPort))); err != nil {
		t.Fatal(err)
	}
	if err := hb.Send(zmq4.NewMsgString("ping")); err != nil {
		t.Fatal(err)
	}
	if m, err := hb.Recv(); err != nil || string(m.Bytes()) != "ping" {
		t.Errorf("heartbeat echo %q %v", m.Bytes(), err)
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
	// zmq4 leaks one goroutine per PUB socket (its writer loop is never
	// stopped); allow for it and for goroutines still winding down.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+1 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+1 {
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
	sub := zmq4.NewSub(context.Background())
	defer sub.Close()
	if err := sub.Dial("tcp://" + net.JoinHostPort(info.IP, strconv.Itoa(info.IOPubPort))); err != nil {
		t.Fatal(err)
	}
	if err := sub.SetOption(zmq4.OptionSubscribe, ""); err != nil {
		t.Fatal(err)
	}
	// Subscriptions are asynchronous: publish until the first one arrives.
	got := make(chan *Message, 1000)
	go func() {
		for {
			zm, err := sub.Recv()
			if err != nil {
				return
			}
			m, err := signer.Decode(zm.Frames)
			if err != nil {
				t.Errorf("decode iopub: %v", err)
				return
			}
			got <- m
		}
	}()
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
		addr := srv.socks[Shell].Addr().String()
		srv.Close()
		if !strings.HasPrefix(addr, "0.0.0.0:") && !strings.HasPrefix(addr, "[::]:") {
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
