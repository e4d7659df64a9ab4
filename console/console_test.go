package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gompi-kernel/gompi-kernel/jupyter"
)

// fakeKernel is a Transport whose other end is a tiny kernel in the test:
// it verifies the console's signatures and answers kernel_info,
// is_complete ("incomplete" while braces are open), complete (names
// starting with what is typed) and execute (one stream line per rank, then
// idle), as gompi-kernel would.
type fakeKernel struct {
	t      *testing.T
	signer *jupyter.Signer
	in     map[jupyter.Channel]chan [][]byte // what the console receives
	mu     sync.Mutex
	got    []*jupyter.Message // requests, in order
	closed chan struct{}
	once   sync.Once
	// lateSend makes Send return this long after an execute's idle
	// status went out, as a busy transport may.
	lateSend time.Duration
	// iopubAfter is how many kernel_info requests come before the
	// console's iopub subscription takes effect.
	iopubAfter int
}

var fakeInfo = jupyter.ConnectionInfo{Key: "secret", SignatureScheme: "hmac-sha256"}

func newFakeKernel(t *testing.T) *fakeKernel {
	s, err := jupyter.NewSigner(fakeInfo.SignatureScheme, fakeInfo.Key)
	if err != nil {
		t.Fatal(err)
	}
	k := &fakeKernel{t: t, signer: s, in: map[jupyter.Channel]chan [][]byte{}, closed: make(chan struct{})}
	for _, ch := range []jupyter.Channel{jupyter.Shell, jupyter.Control, jupyter.Stdin, jupyter.IOPub} {
		k.in[ch] = make(chan [][]byte, 100)
	}
	return k
}

func (k *fakeKernel) Send(ch jupyter.Channel, frames [][]byte) error {
	m, err := k.signer.Decode(frames)
	if err != nil {
		k.t.Errorf("the console sent a bad message: %v", err)
		return err
	}
	k.mu.Lock()
	k.got = append(k.got, m)
	k.mu.Unlock()
	reply := func(t jupyter.MsgType, content any) { k.emit(ch, t, content, m.Header) }
	switch m.Header.MsgType {
	case jupyter.MsgKernelInfoRequest:
		reply(jupyter.MsgKernelInfoReply, map[string]any{"status": "ok", "banner": "fake kernel"})
		if k.iopubAfter > 0 {
			k.iopubAfter-- // not subscribed yet: the status is lost
		} else {
			k.emit(jupyter.IOPub, jupyter.MsgStatus, jupyter.Status{ExecutionState: "idle"}, m.Header)
		}
	case jupyter.MsgIsCompleteRequest:
		var r jupyter.IsCompleteRequest
		_ = json.Unmarshal(m.Content, &r)
		status := jupyter.IsCompleteComplete
		if strings.Count(r.Code, "{") > strings.Count(r.Code, "}") {
			status = jupyter.IsCompleteIncomplete
		}
		reply(jupyter.MsgIsCompleteReply, jupyter.IsCompleteReply{Status: status})
	case jupyter.MsgCompleteRequest:
		var r jupyter.CompleteRequest
		_ = json.Unmarshal(m.Content, &r)
		code := []rune(r.Code)
		start := r.CursorPos
		for start > 0 && code[start-1] != '.' && code[start-1] != ' ' && code[start-1] != '\n' {
			start--
		}
		var matches []string
		for _, n := range []string{"Println", "Printf", "Sprint"} {
			if strings.HasPrefix(n, string(code[start:r.CursorPos])) {
				matches = append(matches, n)
			}
		}
		reply(jupyter.MsgCompleteReply, jupyter.CompleteReply{Matches: matches, CursorStart: start, CursorEnd: r.CursorPos})
	case jupyter.MsgExecuteRequest:
		var r jupyter.ExecuteRequest
		_ = json.Unmarshal(m.Content, &r)
		if !r.Silent {
			for rank := 0; rank < 2; rank++ {
				k.emit(jupyter.IOPub, jupyter.MsgStream, jupyter.Stream{Name: "stdout", Text: "[" + string(rune('0'+rank)) + "] ran " + r.Code + "\n"}, m.Header)
			}
			if strings.Contains(r.Code, "panic") {
				k.emit(jupyter.IOPub, jupyter.MsgError, jupyter.Error{EName: "Panic", EValue: "boom", Traceback: []string{"\x1b[0;31mPanic\x1b[0m", "Panic: boom"}}, m.Header)
			} else {
				k.emit(jupyter.IOPub, jupyter.MsgExecuteResult, jupyter.ExecuteResult{ExecutionCount: 1, Data: map[string]any{"text/plain": "42"}}, m.Header)
			}
		}
		reply(jupyter.MsgExecuteReply, jupyter.ExecuteReply{Status: "ok", ExecutionCount: 1})
		k.emit(jupyter.IOPub, jupyter.MsgStatus, jupyter.Status{ExecutionState: "idle"}, m.Header)
		time.Sleep(k.lateSend)
	case jupyter.MsgShutdownRequest:
		reply(jupyter.MsgShutdownReply, jupyter.ShutdownReply{Status: "ok"})
	}
	return nil
}

// emit sends the console a message from the kernel.
func (k *fakeKernel) emit(ch jupyter.Channel, t jupyter.MsgType, content any, parent jupyter.Header) {
	raw, _ := json.Marshal(content)
	frames, err := k.signer.Encode(&jupyter.Message{Header: jupyter.NewHeader(t, "kernel", "kernel"), ParentHeader: parent, Content: raw})
	if err != nil {
		k.t.Fatal(err)
	}
	k.in[ch] <- frames
}

func (k *fakeKernel) Recv(ch jupyter.Channel) ([][]byte, error) {
	select {
	case f := <-k.in[ch]:
		return f, nil
	case <-k.closed:
		return nil, errors.New("closed")
	}
}

func (k *fakeKernel) Close() error {
	k.once.Do(func() { close(k.closed) })
	return nil
}

// requests lists the types of the requests the console sent.
func (k *fakeKernel) requests() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for _, m := range k.got {
		out = append(out, string(m.Header.MsgType))
	}
	return out
}

// TestConsoleSession types cells through a pipe (no terminal): a block
// continued until complete, outputs shown with Out[n], an error with its
// colours, exit.
func TestConsoleSession(t *testing.T) {
	k := newFakeKernel(t)
	client, err := NewClient(k, fakeInfo, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &syncWriter{w: &bytes.Buffer{}}
	ed, err := newEditor(r, out)
	if err != nil {
		t.Fatal(err)
	}
	c := &console{client: client, ed: ed, log: client.log, idle: map[string]chan struct{}{}, count: 1}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if banner, err := c.waitReady(ctx, nil); err != nil || banner != "fake kernel" {
		t.Fatalf("waitReady = %q, %v", banner, err)
	}
	go c.iopub() // as Run: once ready
	go func() {
		_, _ = io.WriteString(w, "func f() {\nfmt.Println(1)\n}\npanic(1)\n%%rank0\nx := 1\nexit\n")
		_ = w.Close()
	}()
	if err := c.loop(ctx, nil); err != nil {
		t.Fatal(err)
	}
	want := "In [1]:    ...:    ...: [0] ran func f() {\nfmt.Println(1)\n}\n[1] ran func f() {\nfmt.Println(1)\n}\nOut[1]: 42\n" +
		"In [2]: [0] ran panic(1)\n[1] ran panic(1)\n\x1b[0;31mPanic\x1b[0m\nPanic: boom\n" +
		"In [2]:    ...: [0] ran %%rank0\nx := 1\n[1] ran %%rank0\nx := 1\nOut[1]: 42\nIn [2]: "
	if got := out.String(); got != want {
		t.Errorf("the terminal shows\n%q\nwant\n%q", got, want)
	}
	wantReqs := "kernel_info_request is_complete_request is_complete_request is_complete_request execute_request " +
		"is_complete_request execute_request is_complete_request execute_request"
	if got := strings.Join(k.requests(), " "); got != wantReqs {
		t.Errorf("requests: %s\nwant      %s", got, wantReqs)
	}
}

// TestComplete checks Tab: one match or a longer common prefix is
// inserted, several matches are listed, the cursor counts code points.
func TestComplete(t *testing.T) {
	k := newFakeKernel(t)
	client, err := NewClient(k, fakeInfo, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	out := &syncWriter{w: &bytes.Buffer{}}
	c := &console{client: client, ed: &plainEditor{out: out}, idle: map[string]chan struct{}{}}
	cases := []struct {
		line    string
		pos     int
		want    string
		wantPos int
		ok      bool
	}{
		{"fmt.Sp", 6, "fmt.Sprint", 10, true},
		{"fmt.Pri", 7, "fmt.Print", 9, true},
		{"fmt.Print", 9, "", 0, false},
		{"é := fmt.Sp(x)", len("é := fmt.Sp"), "é := fmt.Sprint(x)", len("é := fmt.Sprint"), true},
		{"fmt.Zz", 6, "", 0, false},
	}
	for _, tc := range cases {
		got, pos, ok := c.complete(tc.line, tc.pos)
		if got != tc.want || pos != tc.wantPos || ok != tc.ok {
			t.Errorf("complete(%q, %d) = %q, %d, %v; want %q, %d, %v", tc.line, tc.pos, got, pos, ok, tc.want, tc.wantPos, tc.ok)
		}
	}
	if got := out.String(); got != "Println  Printf\n" {
		t.Errorf("listed %q", got)
	}
}

// TestRender checks what the terminal shows for the kinds of output.
func TestRender(t *testing.T) {
	msg := func(tp jupyter.MsgType, content any) *jupyter.Message {
		raw, _ := json.Marshal(content)
		return &jupyter.Message{Header: jupyter.Header{MsgType: tp}, Content: raw}
	}
	cases := []struct {
		m    *jupyter.Message
		want string
	}{
		{msg(jupyter.MsgStream, jupyter.Stream{Name: "stdout", Text: "[2] hi\n"}), "[2] hi\n"},
		{msg(jupyter.MsgExecuteResult, jupyter.ExecuteResult{ExecutionCount: 3, Data: map[string]any{"text/plain": "a\nb"}}), "Out[3]: \na\nb\n"},
		{msg(jupyter.MsgDisplayData, jupyter.DisplayData{Data: map[string]any{"image/png": "AAAA"}}), "<image/png, 4 bytes>\n"},
		{msg(jupyter.MsgError, jupyter.Error{EName: "Panic", EValue: "x"}), "\x1b[0;31mPanic\x1b[0m: x\n"},
		{msg(jupyter.MsgUpdateDisplayData, jupyter.UpdateDisplayData{}), ""},
	}
	for _, tc := range cases {
		if got := render(tc.m); got != tc.want {
			t.Errorf("render(%s) = %q, want %q", tc.m.Header.MsgType, got, tc.want)
		}
	}
}

// syncWriter guards a buffer written by two goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

// TestAttribute checks that a rich output names its rank on a kernel of
// several ranks, and only there.
func TestAttribute(t *testing.T) {
	raw, _ := json.Marshal(jupyter.DisplayData{Data: map[string]any{"text/plain": "x"}, Metadata: map[string]any{"rank": 2}})
	m := &jupyter.Message{Header: jupyter.Header{MsgType: jupyter.MsgDisplayData}, Content: raw}
	if got := (&console{ranks: 4}).attribute(m, "x\n"); got != "[2] x\n" {
		t.Errorf("4 ranks: %q", got)
	}
	if got := (&console{ranks: 1}).attribute(m, "x\n"); got != "x\n" {
		t.Errorf("1 rank: %q", got)
	}
	if n := bannerRanks("gompi-kernel devel: Go (yaegi) on 16 MPI rank(s). Every cell…"); n != 16 {
		t.Errorf("bannerRanks = %d", n)
	}
}

// TestIdleBeforeSendReturns runs cells on a kernel whose idle status
// reaches the console before its transport's Send returns: the prompt must
// still come back (the console once registered its wait for the idle only
// after sending, and then waited forever).
func TestIdleBeforeSendReturns(t *testing.T) {
	k := newFakeKernel(t)
	k.lateSend = 100 * time.Millisecond
	client, err := NewClient(k, fakeInfo, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	out := &syncWriter{w: &bytes.Buffer{}}
	c := &console{client: client, ed: &plainEditor{out: out}, log: client.log, idle: map[string]chan struct{}{}, count: 1}
	go c.iopub()
	for i := 0; i < 3; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.execute(ctx, "x := 1", nil)
		cancel()
		if err != nil {
			t.Fatalf("cell %d: %v (the idle status was lost); the terminal shows %q", i, err, out.String())
		}
	}
}

// TestReadyWaitsForIOPub: a kernel that answers kernel_info before the
// console's iopub subscription has reached it is asked again, until its
// status for a request arrives; only then is it ready, so that the first
// cell's output and idle status are not lost.
func TestReadyWaitsForIOPub(t *testing.T) {
	k := newFakeKernel(t)
	k.iopubAfter = 2
	client, err := NewClient(k, fakeInfo, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c := &console{client: client, ed: &plainEditor{out: io.Discard}, log: client.log, idle: map[string]chan struct{}{}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.waitReady(ctx, nil); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range k.requests() {
		if r == string(jupyter.MsgKernelInfoRequest) {
			n++
		}
	}
	if n != 3 {
		t.Errorf("kernel_info asked %d times, want 3 (twice unheard on iopub, then heard)", n)
	}
}
