package jupyter

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestReplayGuard(t *testing.T) {
	g := newReplayGuard(4)
	sig := func(i int) []byte { return []byte(fmt.Sprintf("%064x", i)) }
	for i := 0; i < 4; i++ {
		if err := g.check(sig(i)); err != nil {
			t.Fatalf("first sight of %d: %v", i, err)
		}
	}
	if err := g.check(sig(2)); !errors.Is(err, ErrReplay) {
		t.Errorf("second sight = %v, want ErrReplay", err)
	}
	// The signature check is case-insensitive, so is the history.
	upper := []byte(strings.ToUpper(fmt.Sprintf("%064x", 0xabc)))
	if err := g.check([]byte(fmt.Sprintf("%064x", 0xabc))); err != nil {
		t.Fatal(err)
	}
	if err := g.check(upper); !errors.Is(err, ErrReplay) {
		t.Errorf("upper-case copy = %v, want ErrReplay", err)
	}
	// 0xabc evicted 0 (FIFO): 0 is accepted again, 1 still refused.
	if err := g.check(sig(0)); err != nil {
		t.Errorf("oldest signature after eviction: %v", err)
	}
	if err := g.check(sig(3)); !errors.Is(err, ErrReplay) {
		t.Errorf("recent signature = %v, want ErrReplay", err)
	}
	if len(g.seen) != 4 {
		t.Errorf("history holds %d signatures, want 4", len(g.seen))
	}
	// Without a key every signature is empty: never a replay.
	for i := 0; i < 3; i++ {
		if err := g.check(nil); err != nil {
			t.Errorf("empty signature: %v", err)
		}
	}
	// History off.
	off := newReplayGuard(0)
	for i := 0; i < 2; i++ {
		if err := off.check(sig(1)); err != nil {
			t.Errorf("history off: %v", err)
		}
	}
}

func TestReplayGuardDefaultBounded(t *testing.T) {
	g := newReplayGuard(DefaultReplayHistory)
	for i := 0; i < 3*DefaultReplayHistory; i++ {
		if err := g.check([]byte(fmt.Sprintf("%064x", i))); err != nil {
			t.Fatalf("%d: %v", i, err)
		}
	}
	if len(g.seen) != DefaultReplayHistory {
		t.Errorf("history holds %d, want %d", len(g.seen), DefaultReplayHistory)
	}
	if err := g.check([]byte(fmt.Sprintf("%064x", 3*DefaultReplayHistory-1))); !errors.Is(err, ErrReplay) {
		t.Errorf("latest = %v, want ErrReplay", err)
	}
}
