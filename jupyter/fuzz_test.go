package jupyter

import (
	"bytes"
	"errors"
	"testing"
)

// fuzzKey signs the valid seeds in testdata/fuzz/FuzzDecode.
const fuzzKey = "fuzz-key"

// joinFrames/splitFrames map a frame list to one fuzzable byte string:
// frames separated by '\n' (JSON frames of real messages contain no newline).
func joinFrames(frames [][]byte) []byte { return bytes.Join(frames, []byte("\n")) }

func splitFrames(data []byte) [][]byte { return bytes.Split(data, []byte("\n")) }

// FuzzDecode checks that Decode never panics and that whatever it accepts
// survives an Encode/Decode round trip unchanged.
//
//	go test -fuzz=FuzzDecode ./jupyter
func FuzzDecode(f *testing.F) {
	s, err := NewSigner("hmac-sha256", fuzzKey)
	if err != nil {
		f.Fatal(err)
	}
	m := testMessage()
	m.Buffers = [][]byte{[]byte("buf")}
	frames, err := s.Encode(m)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(joinFrames(frames), true)
	f.Add(joinFrames(frames), false)
	f.Add([]byte("<IDS|MSG>\n\n{}\n{}\n{}\n{}"), false)

	unsigned, _ := NewSigner("hmac-sha256", "")
	f.Fuzz(func(t *testing.T, data []byte, signed bool) {
		signer := unsigned
		if signed {
			signer = s
		}
		got, err := signer.Decode(splitFrames(data))
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("error %v is neither ErrMalformed nor ErrBadSignature", err)
			}
			return
		}
		again, err := signer.Encode(got)
		if err != nil {
			t.Fatalf("re-encode of accepted message: %v", err)
		}
		back, err := signer.Decode(again)
		if err != nil {
			t.Fatalf("decode of re-encoded message: %v", err)
		}
		if back.Header != got.Header || back.ParentHeader != got.ParentHeader {
			t.Fatalf("headers changed: %+v/%+v -> %+v/%+v", got.Header, got.ParentHeader, back.Header, back.ParentHeader)
		}
		if !bytes.Equal(back.Content, got.Content) && len(bytes.TrimSpace(got.Content)) != 0 {
			t.Fatalf("content changed: %q -> %q", got.Content, back.Content)
		}
		if len(back.Metadata) != len(got.Metadata) || len(back.Identities) != len(got.Identities) || len(back.Buffers) != len(got.Buffers) {
			t.Fatalf("frame counts changed")
		}
	})
}
