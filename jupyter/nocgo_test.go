//go:build !cgo

package jupyter

import (
	"errors"
	"testing"
)

// Without cgo the package still builds for the kernel core, and says why it
// cannot open sockets.
func TestNoCgo(t *testing.T) {
	info, err := NewConnectionInfo("")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(info, nil); !errors.Is(err, errNoCgo) {
		t.Errorf("Listen without cgo = %v, want errNoCgo", err)
	}
	if _, err := Dial(info, nil); !errors.Is(err, errNoCgo) {
		t.Errorf("Dial without cgo = %v, want errNoCgo", err)
	}
}
