package kernel

import (
	"strings"
	"testing"

	"github.com/gompi-kernel/gompi-kernel/jupyter"
)

func TestHistory(t *testing.T) {
	var h History
	h.Add(1, "x := 1", "")
	h.Add(2, "1 + 2", "3")
	h.Add(3, "a/b", "")
	h.Add(4, "1 + 2", "3")
	inputs := func(es []jupyter.HistoryEntry) string {
		var s []string
		for _, e := range es {
			s = append(s, e.Input)
		}
		return strings.Join(s, "|")
	}
	if got := inputs(h.Query(jupyter.HistoryRequest{HistAccessType: "tail", N: 2})); got != "a/b|1 + 2" {
		t.Errorf("tail 2: %q", got)
	}
	if got := inputs(h.Query(jupyter.HistoryRequest{HistAccessType: "range", Start: 2, Stop: 4})); got != "1 + 2|a/b" {
		t.Errorf("range 2-4: %q", got)
	}
	if got := inputs(h.Query(jupyter.HistoryRequest{HistAccessType: "search", Pattern: "1 + *"})); got != "1 + 2|1 + 2" {
		t.Errorf("search: %q", got)
	}
	if got := inputs(h.Query(jupyter.HistoryRequest{HistAccessType: "search", Pattern: "1 + *", Unique: true})); got != "1 + 2" {
		t.Errorf("search unique: %q", got)
	}
	if got := inputs(h.Query(jupyter.HistoryRequest{HistAccessType: "search", Pattern: "*/*"})); got != "a/b" {
		t.Errorf("glob across a slash: %q", got)
	}
	out := h.Query(jupyter.HistoryRequest{HistAccessType: "tail", N: 1, Output: true})
	if len(out) != 1 || out[0].Output == nil || *out[0].Output != "3" {
		t.Errorf("output: %+v", out)
	}
}
