package session

import (
	"strings"
	"testing"
	"time"
)

func TestGoroutinePanicIsContained(t *testing.T) {
	cases := []struct{ name, code, stdout, stderr string }{
		{"func literal", `done := make(chan bool)
go func(x int) {
	defer close(done)
	var m map[int]int
	m[x] = 1
}(7)
<-done`, "", "assignment to entry in nil map"},
		{"named function, arguments evaluated at go time", `func work(i int, f float32, wg *sync.WaitGroup) {
	defer wg.Done()
	if i == 2 {
		panic(fmt.Sprint("bad ", i))
	}
}
var wg sync.WaitGroup
seen := make([]int, 0)
for i := 0; i < 3; i++ {
	wg.Add(1)
	go work(i, 1.5, &wg)
}
wg.Wait()`, "", "bad 2"},
		{"method value binds its receiver", `type S struct{ n int }
func (s *S) Inc(done chan bool) { s.n++; done <- true }
s := S{}
done := make(chan bool)
go s.Inc(done)
<-done
fmt.Print(s.n)`, "1", ""},
		{"exit in goroutine", `done := make(chan bool)
go func() { defer close(done); os.Exit(4) }()
<-done`, "", "os.Exit(4) in a goroutine"},
		{"nested go statements and multi-line arguments", `ch := make(chan string, 2)
go func() {
	go func(s string) { ch <- s }("inner")
	ch <- "outer"
}()
var wg sync.WaitGroup
wg.Add(1)
show := func(s string, wg *sync.WaitGroup) { defer wg.Done(); fmt.Print(s) }
go show(
	"x",
	&wg,
)
a, b := <-ch, <-ch
wg.Wait()
line := 15
_ = line
fmt.Print(len(a)+len(b))`, "x10", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestSession(t, Options{})
			ts.run(t, tc.code)
			// A goroutine's panic is reported by the goroutine itself,
			// after the cell saw it end: wait for the report.
			if tc.stderr != "" {
				deadline := time.Now().Add(10 * time.Second)
				for !strings.Contains(ts.err.String(), tc.stderr) && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
			}
			if got := ts.out.String(); got != tc.stdout {
				t.Errorf("stdout = %q, want %q", got, tc.stdout)
			}
			if got := ts.err.String(); !strings.Contains(got, tc.stderr) || (tc.stderr == "" && got != "") {
				t.Errorf("stderr = %q, want %q", got, tc.stderr)
			}
		})
	}
}

func TestGoRewriteKeepsLines(t *testing.T) {
	ts := newTestSession(t, Options{})
	res := ts.try("go fmt.Print(\n\t1,\n)\nx := 1 + \"a\"")
	if res.Err == nil || !strings.HasPrefix(res.Err.Value, "4:") {
		t.Fatalf("err = %+v, want a compile error on line 4", res.Err)
	}
}
