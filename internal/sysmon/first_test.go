package sysmon

import "testing"

// TestFirstThread: the oldest thread after the main one, also where the
// ids wrapped around at pid_max while the process started.
func TestFirstThread(t *testing.T) {
	for _, c := range []struct {
		pid  int
		tids []int
		want int
	}{
		{100, []int{100, 105, 101, 130}, 101},
		{32760, []int{32760, 32761, 32766, 301, 305}, 32761}, // wrapped after sysmon
		{32767, []int{32767, 303, 300, 310}, 300},            // wrapped before it
		{500, []int{500, 320, 501}, 501},
	} {
		if got, ok := FirstThread(c.pid, c.tids); !ok || got != c.want {
			t.Errorf("FirstThread(%d, %v) = %d, %v; want %d", c.pid, c.tids, got, ok, c.want)
		}
	}
	if _, ok := FirstThread(7, []int{7}); ok {
		t.Errorf("firstThread of a process with one thread found one")
	}
}
