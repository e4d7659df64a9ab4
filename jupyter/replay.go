package jupyter

import (
	"bytes"
	"encoding/hex"
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
// messages gets through; at 16 bytes per signature the history costs about
// 3 MiB with its index.
const DefaultReplayHistory = 1 << 16

// replayKey is the first 16 bytes of a signature: an HMAC output is uniformly
// random, so 128 bits tell signatures apart as well as the whole digest does,
// at a quarter of the memory of a hex SHA-256.
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
	var k replayKey
	// Decode verified the signature, so it is hex; ToLower because the
	// check there is case-insensitive and "AB" and "ab" are one signature.
	if _, err := hex.Decode(k[:], bytes.ToLower(sig[:min(len(sig), 2*len(k))])); err != nil {
		copy(k[:], sig) // not hex (cannot happen after Decode); still a key
	}
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
