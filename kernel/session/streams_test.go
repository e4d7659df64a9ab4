package session

import (
	"strings"
	"testing"
	"time"
)

// TestStandardStreamsSurviveACell: closing or replacing os.Stdout and
// os.Stderr in a cell affects that cell only.
func TestStandardStreamsSurviveACell(t *testing.T) {
	ts := newTestSession(t, Options{})
	ts.run(t, `os.Stdout.Close()
os.Stderr.Close()
_, err := fmt.Fprintln(os.Stdout, "lost")
fmt.Println("print still works:", err != nil)`)
	ts.run(t, `fmt.Fprintln(os.Stdout, "stdout is back")
fmt.Fprintln(os.Stderr, "stderr is back")
log.Print("log is back")`)
	if got := ts.out.String(); got != "print still works: true\nstdout is back\n" {
		t.Errorf("stdout %q", got)
	}
	if got := ts.err.String(); !strings.HasPrefix(got, "stderr is back\n") || !strings.Contains(got, "log is back") {
		t.Errorf("stderr %q", got)
	}

	ts.out.Reset()
	ts.err.Reset()
	ts.run(t, `os.Stdout = os.Stderr
fmt.Fprintln(os.Stdout, "to stderr in this cell")`)
	ts.run(t, `fmt.Fprintln(os.Stdout, "to stdout again")`)
	if got := ts.out.String(); got != "to stdout again\n" {
		t.Errorf("stdout %q", got)
	}
	if got := ts.err.String(); got != "to stderr in this cell\n" {
		t.Errorf("stderr %q", got)
	}
}

// TestAfterFuncPanicIsContained: a panic in a time.AfterFunc callback is
// reported like one in a go statement, and the session goes on.
func TestAfterFuncPanicIsContained(t *testing.T) {
	ts := newTestSession(t, Options{})
	ts.run(t, `done := make(chan bool)
time.AfterFunc(time.Millisecond, func() {
	defer close(done)
	panic("late")
})
<-done`)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(ts.err.String(), "late") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := ts.err.String(); !strings.Contains(got, "panic: late [recovered]\n\tin a goroutine started by a cell; the goroutine ended, the session goes on") {
		t.Errorf("stderr %q", got)
	}
	if got := plain(ts.run(t, "1 + 1")); got != "2" {
		t.Errorf("after the panic: %q", got)
	}
}
