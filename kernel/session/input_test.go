package session

import (
	"errors"
	"strings"
	"testing"
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
