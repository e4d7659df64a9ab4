package session

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestInput(t *testing.T) {
	var asked int
	answers := []string{"42 3.5", "Ada Lovelace", "x"}
	ts := newTestSession(t, Options{Input: func(prompt string, password bool) (string, error) {
		if asked >= len(answers) {
			return "", errors.New("no more")
		}
		asked++
		return answers[asked-1], nil
	}})
	ts.run(t, `fmt.Print("number: ")
var n int
var f float64
fmt.Scan(&n, &f)
r := bufio.NewReader(os.Stdin)
name, _ := r.ReadString('\n')
fmt.Println(n, f, strings.TrimSpace(name))`)
	if got := ts.out.String(); got != "number: 42 3.5 Ada Lovelace\n" {
		t.Errorf("output %q", got)
	}
	if asked != 2 {
		t.Errorf("asked %d times, want 2", asked)
	}
}

func TestNoInput(t *testing.T) {
	ts := newTestSession(t, Options{})
	res := ts.run(t, `var s string
_, err := fmt.Scanln(&s)
err`)
	if got := plain(res); !strings.Contains(got, "standard input is read on rank 0") || !strings.Contains(got, "EOF") {
		t.Errorf("error without stdin: %s", got)
	}
}

// TestInputInterrupted: a cell waiting for the frontend's answer stops at
// the interrupt, like any other wait; the next cell asks again.
func TestInputInterrupted(t *testing.T) {
	unanswered := make(chan struct{})
	defer close(unanswered)
	var answer atomic.Value // the answer once there is one
	ts := newTestSession(t, Options{Input: func(prompt string, password bool) (string, error) {
		if a, ok := answer.Load().(string); ok {
			return a, nil
		}
		<-unanswered
		return "", errors.New("kernel closed")
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Result)
	go func() { done <- ts.Execute(ctx, "var s string\nfmt.Scanln(&s)\nfmt.Println(\"not reached\")") }()
	time.Sleep(200 * time.Millisecond)
	cancel()
	res := <-done
	if res.Err == nil || res.Err.Name != ErrInterrupted || strings.Contains(res.Err.Value, "background") {
		t.Fatalf("err = %+v, want a plain interrupt", res.Err)
	}
	if strings.Contains(ts.out.String(), "not reached") {
		t.Fatalf("output %q", ts.out.String())
	}
	answer.Store("again")
	ts.run(t, `fmt.Scanln(&s); fmt.Println(s)`)
	if got := ts.out.String(); got != "again\n" {
		t.Errorf("output %q after the interrupt", got)
	}
}
