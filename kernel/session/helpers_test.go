package session

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// chunkRecorder is a writer that remembers each chunk and when it arrived.
type chunkRecorder struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	chunks []recordedChunk
}

type recordedChunk struct {
	at   time.Time
	data string
}

func (r *chunkRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf.Write(p)
	r.chunks = append(r.chunks, recordedChunk{time.Now(), string(p)})
	return len(p), nil
}

func (r *chunkRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

func (r *chunkRecorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf.Reset()
	r.chunks = nil
}

// firstArrival returns when text first appeared in the output.
func (r *chunkRecorder) firstArrival(text string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var seen strings.Builder
	for _, c := range r.chunks {
		seen.WriteString(c.data)
		if strings.Contains(seen.String(), text) {
			return c.at, true
		}
	}
	return time.Time{}, false
}

type testSession struct {
	*Session
	out, err *chunkRecorder
}

func newTestSession(t *testing.T, opts Options) *testSession {
	t.Helper()
	ts := &testSession{out: &chunkRecorder{}, err: &chunkRecorder{}}
	opts.Stdout, opts.Stderr = ts.out, ts.err
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	ts.Session = s
	return ts
}

// run executes code with a generous timeout and fails the test on error.
func (ts *testSession) run(t *testing.T, code string) Result {
	t.Helper()
	res := ts.try(code)
	if res.Err != nil {
		t.Fatalf("cell %q failed: %s: %s\n%s", code, res.Err.Name, res.Err.Value, strings.Join(res.Err.Traceback, "\n"))
	}
	return res
}

func (ts *testSession) try(code string) Result {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return ts.Execute(ctx, code)
}

// plain returns the text/plain of a result, or "" without data.
func plain(r Result) string {
	if r.Data == nil {
		return ""
	}
	s, _ := r.Data["text/plain"].(string)
	return s
}
