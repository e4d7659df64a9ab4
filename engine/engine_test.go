package engine

import (
	"strings"
	"testing"

	"github.com/gompi-kernel/gompi-kernel/kernel/session"
)

func TestRankList(t *testing.T) {
	for _, tc := range []struct {
		in   []int
		want string
	}{
		{[]int{2}, "rank 2"},
		{[]int{0, 1, 2, 3}, "ranks 0-3"},
		{[]int{1, 3, 5, 6, 7}, "ranks 1,3,5-7"},
		{[]int{0, 1, 3}, "ranks 0-1,3"},
	} {
		if got := rankList(tc.in); got != tc.want {
			t.Errorf("rankList(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFoldErrors(t *testing.T) {
	boom := &session.Error{Name: "Panic", Value: "boom", Traceback: []string{"1:1: panic"}}
	ok := doneReport{}
	if e := foldErrors([]doneReport{ok, ok}, nil); e != nil {
		t.Fatalf("no failure folded into %+v", e)
	}
	// One rank: its error as it is, no rank label.
	if e := foldErrors([]doneReport{{Err: boom}}, nil); e != boom {
		t.Errorf("single rank: %+v", e)
	}
	// The same failure on several ranks is named once.
	e := foldErrors([]doneReport{{Err: boom}, ok, {Err: boom}, {Err: boom}}, nil)
	if e.Name != "Panic" || e.Value != "ranks 0,2-3: boom" {
		t.Errorf("alike failures: %+v", e)
	}
	// Different failures are listed apiece; stuck ranks are named apart,
	// with where they waited.
	other := &session.Error{Name: "CompileError", Value: "1:1: undefined: x"}
	stuck := &session.Error{Name: "Interrupted", Value: "interrupted"}
	e = foldErrors([]doneReport{{Err: stuck, Where: "Barrier"}, {Err: boom}, {Err: other}, {Err: stuck, Where: "Barrier"}}, []int{0, 3})
	for _, want := range []string{"rank 1: boom", "rank 2: 1:1: undefined: x", "ranks 0,3 still running", "waiting in mpi.Barrier"} {
		if !strings.Contains(e.Value, want) {
			t.Errorf("evalue %q lacks %q", e.Value, want)
		}
	}
	if e.Name != "Panic" {
		t.Errorf("name %q, want the first failure's", e.Name)
	}
}
