package jupyter

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
)

// ErrReplay means a correctly signed message arrived whose signature was seen
// before: someone who captured a message (it need not be someone with the
// key) sent it again. Acting on it would run the same cell twice, so it is
// dropped, as jupyter_client does ("Duplicate Signature").
var ErrReplay = errors.New("jupyter: duplicate signature (replayed message)")

// DefaultReplayHistory is how many signatures the server remembers, the size
// of jupyter_client's Session.digest_history. A replay older than that many
// messages gets through; at 16 bytes per signature the history costs a few
// MiB with its index.
const DefaultReplayHistory = 1 << 16

// replayKey stands for a signature in the history: 128 bits of its SHA-256,
// a fixed size whatever the scheme (hex SHA-512 signatures are 128 bytes)
// and unique in practice.
type replayKey [16]byte

// replayGuard remembers the signatures of the last n accepted messages and
// forgets the oldest first (FIFO). Safe for concurrent use: shell, control
// and stdin share one history, so a shell request replayed on control is
// caught too.
type replayGuard struct {
	mu   sync.Mutex
	seen map[replayKey]struct{}
	ring []replayKey // insertion order; next is the slot to overwrite
	next int
	full bool
}

func newReplayGuard(n int) *replayGuard {
	return &replayGuard{seen: make(map[replayKey]struct{}, n), ring: make([]replayKey, n)}
}

// check records sig and returns ErrReplay if it was already recorded. An
// empty signature (signing turned off by an empty key) is never a replay:
// every message carries the same empty one.
func (g *replayGuard) check(sig []byte) error {
	if len(sig) == 0 || len(g.ring) == 0 {
		return nil
	}
	// ToLower: Decode compares signatures case-insensitively, so "AB…"
	// and "ab…" are one signature.
	sum := sha256.Sum256(bytes.ToLower(sig))
	var k replayKey
	copy(k[:], sum[:])
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, dup := g.seen[k]; dup {
		return fmt.Errorf("%w: %.16q", ErrReplay, sig)
	}
	if g.full {
		delete(g.seen, g.ring[g.next])
	}
	g.ring[g.next] = k
	g.seen[k] = struct{}{}
	g.next++
	if g.next == len(g.ring) {
		g.next, g.full = 0, true
	}
	return nil
}

// signatureOf returns the signature frame of wire frames that Decode
// accepted (the frame after "<IDS|MSG>").
func signatureOf(frames [][]byte) []byte {
	for i, f := range frames {
		if bytes.Equal(f, delimiter) && i+1 < len(frames) {
			return frames[i+1]
		}
	}
	return nil
}
