package tests

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestInspectKernelPackages: Shift+Tab on the kernel's own packages shows
// their signature and doc comment, also inside a call's parentheses.
func TestInspectKernelPackages(t *testing.T) {
	k := startKernel(t, 2)
	res := drive(t, k.connFile,
		action{"do": "inspect", "code": "mpi.Allreduce(", "cursor_pos": 14},
		action{"do": "inspect", "code": "x := mpi.Call", "cursor_pos": 13},
		action{"do": "inspect", "code": "display.HTML", "cursor_pos": 12},
		action{"do": "shutdown"},
	)
	for i, want := range []struct{ sig, doc string }{
		{"Allreduce(", "Reduce with the result on every rank"},
		{"Call(", "runs the function named fn"},
		{"HTML(", "shows an HTML fragment"},
	} {
		r := res[i].Reply
		text := fmt.Sprint(r["data"].(map[string]any)["text/plain"])
		first, rest, _ := strings.Cut(text, "\n")
		if r["found"] != true || !strings.Contains(first, want.sig) || !strings.Contains(rest, want.doc) {
			t.Errorf("inspect %s: the signature first, then the doc comment; got:\n%s", want.sig, text)
		}
	}
	if err := k.wait(30 * time.Second); err != nil {
		t.Error(err)
	}
}
