//go:build cgo

package jupyter

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// testKernel is a minimal kernel: enough protocol to drive jupyter_client.
type testKernel struct {
	t     *testing.T
	mu    sync.Mutex
	count int
}

func (k *testKernel) Handle(req *Request) {
	m := req.Msg()
	pub := func(t MsgType, c any) {
		if err := req.Publish(t, c, nil); err != nil {
			k.t.Errorf("publish %s: %v", t, err)
		}
	}
	reply := func(t MsgType, c any) {
		if err := req.Reply(t, c, nil); err != nil {
			k.t.Errorf("reply %s: %v", t, err)
		}
	}
	pub(MsgStatus, Status{ExecutionState: StateBusy})
	defer pub(MsgStatus, Status{ExecutionState: StateIdle})
	switch m.Header.MsgType {
	case MsgKernelInfoRequest:
		reply(MsgKernelInfoReply, KernelInfoReply{
			Implementation: "test", ImplementationVersion: "0",
			LanguageInfo: LanguageInfo{Name: "go", Version: "1.26", MIMEType: "text/x-go", FileExtension: ".go"},
		})
	case MsgExecuteRequest:
		var ex ExecuteRequest
		if err := json.Unmarshal(m.Content, &ex); err != nil {
			reply(MsgExecuteReply, ExecuteReply{Status: StatusError, EName: "BadRequest", EValue: err.Error()})
			return
		}
		k.mu.Lock()
		k.count++
		n := k.count
		k.mu.Unlock()
		pub(MsgExecuteInput, ExecuteInput{Code: ex.Code, ExecutionCount: n})
		pub(MsgStream, Stream{Name: StreamStdout, Text: ex.Code})
		switch {
		case strings.HasPrefix(ex.Code, "sleep:"):
			secs, _ := strconv.Atoi(strings.TrimPrefix(ex.Code, "sleep:"))
			select {
			case <-time.After(time.Duration(secs) * time.Second):
			case <-req.Context().Done():
			}
		case strings.HasPrefix(ex.Code, "input:"):
			ctx, cancel := context.WithTimeout(req.Context(), 20*time.Second)
			v, err := req.Input(ctx, strings.TrimPrefix(ex.Code, "input:"), false)
			cancel()
			if err != nil {
				k.t.Errorf("Input: %v", err)
			}
			pub(MsgStream, Stream{Name: StreamStdout, Text: "got:" + v})
		}
		reply(MsgExecuteReply, ExecuteReply{Status: StatusOK, ExecutionCount: n})
	case MsgInterruptRequest:
		reply(MsgInterruptReply, InterruptReply{Status: StatusOK})
	case MsgShutdownRequest:
		var sr ShutdownRequest
		_ = json.Unmarshal(m.Content, &sr)
		reply(MsgShutdownReply, ShutdownReply{Status: StatusOK, Restart: sr.Restart})
	default:
		k.t.Logf("unhandled %s on %s", m.Header.MsgType, req.Channel())
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestEndToEndJupyterClient drives the server with the real jupyter_client
// (and raw pyzmq for the hostile cases) from testdata/e2e_client.py.
func TestEndToEndJupyterClient(t *testing.T) {
	if out, err := exec.Command(systemPython, "-c", "import jupyter_client, zmq").CombinedOutput(); err != nil {
		t.Fatalf("%s cannot import jupyter_client and zmq (install python3-jupyter-client python3-zmq): %v\n%s",
			systemPython, err, out)
	}
	info, err := NewConnectionInfo("")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kernel-test.json")
	if err := info.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := Listen(info, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, &testKernel{t: t}) }()
	if err := srv.Publish(nil, MsgStatus, Status{ExecutionState: StateStarting}, nil); err != nil {
		t.Fatalf("publish starting: %v", err)
	}

	pctx, pcancel := context.WithTimeout(ctx, 90*time.Second)
	defer pcancel()
	cmd := exec.CommandContext(pctx, systemPython, filepath.Join("testdata", "e2e_client.py"), path)
	out, err := cmd.CombinedOutput()
	t.Logf("client output:\n%s", out)
	if err != nil {
		t.Errorf("client failed: %v\nserver log:\n%s", err, logs.String())
	}
	if !strings.Contains(string(out), "ALL OK") {
		t.Errorf("client did not finish")
	}
	l := logs.String()
	for _, want := range []string{"bad message signature", "no <IDS|MSG> delimiter", "frames after delimiter", "header is not a JSON object"} {
		if !strings.Contains(l, want) {
			t.Errorf("server log lacks a dropped-message warning containing %q", want)
		}
	}

	cancel()
	select {
	case err := <-served:
		if err != context.Canceled {
			t.Errorf("Serve returned %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
