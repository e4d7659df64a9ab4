package jupyter

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func testMessage() *Message {
	return &Message{
		Identities:   [][]byte{[]byte("id-one"), {0, 1, 2, 0xff}},
		Header:       NewHeader(MsgExecuteRequest, "sess-1", "alice"),
		ParentHeader: NewHeader(MsgKernelInfoRequest, "sess-0", "bob"),
		Metadata:     map[string]any{"k": "v"},
		Content:      json.RawMessage(`{"code":"x := 1"}`),
		Buffers:      [][]byte{[]byte("buf0"), {}, []byte("<IDS|MSG>")},
	}
}

func mustSigner(t testing.TB, key string) *Signer {
	t.Helper()
	s, err := NewSigner("hmac-sha256", key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSignRoundTrip(t *testing.T) {
	s := mustSigner(t, "secret")
	m := testMessage()
	frames, err := s.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	// identities, delimiter, sig, 4 JSON parts, 3 buffers
	if len(frames) != 2+1+1+4+3 {
		t.Fatalf("got %d frames", len(frames))
	}
	if !bytes.Equal(frames[2], delimiter) {
		t.Fatalf("frame 2 = %q, want delimiter", frames[2])
	}
	if len(frames[3]) != 64 {
		t.Fatalf("signature %q is not 64 hex chars", frames[3])
	}
	got, err := s.Decode(frames)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Identities) != 2 || !bytes.Equal(got.Identities[1], m.Identities[1]) {
		t.Errorf("identities = %q", got.Identities)
	}
	if got.Header != m.Header || got.ParentHeader != m.ParentHeader {
		t.Errorf("headers differ: %+v %+v", got.Header, got.ParentHeader)
	}
	if got.Metadata["k"] != "v" {
		t.Errorf("metadata = %v", got.Metadata)
	}
	if string(got.Content) != string(m.Content) {
		t.Errorf("content = %s", got.Content)
	}
	if len(got.Buffers) != 3 || string(got.Buffers[2]) != "<IDS|MSG>" || len(got.Buffers[1]) != 0 {
		t.Errorf("buffers = %q", got.Buffers)
	}
}

// The HMAC must be what jupyter_client computes: hex(hmac(key, header+parent+metadata+content)).
// want was computed with Python's hmac/hashlib over the same four parts.
func TestSignatureKnownValue(t *testing.T) {
	s := mustSigner(t, "key")
	parts := [][]byte{[]byte(`{"msg_id":"1","msg_type":"status","session":"s","username":"u","date":"d","version":"5.3"}`), []byte("{}"), []byte("{}"), []byte(`{"execution_state":"idle"}`)}
	const want = "4cf8fe164333278e1c21591191d95c64c2c30cb407afb43a2022347f05c1fef9"
	if got := string(s.sign(parts)); got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
	frames := append([][]byte{delimiter, []byte(strings.ToUpper(want))}, parts...)
	if _, err := s.Decode(frames); err != nil {
		t.Fatalf("upper-case hex signature: %v", err)
	}
}

func TestBadSignatureRejected(t *testing.T) {
	frames, err := mustSigner(t, "secret").Encode(testMessage())
	if err != nil {
		t.Fatal(err)
	}
	_, err = mustSigner(t, "other").Decode(frames)
	if !errors.Is(err, ErrBadSignature) {
		t.Fatalf("wrong key: err = %v, want ErrBadSignature", err)
	}
	frames[3] = []byte("")
	if _, err := mustSigner(t, "secret").Decode(frames); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("empty signature: err = %v, want ErrBadSignature", err)
	}
}

func TestTamperedRejected(t *testing.T) {
	s := mustSigner(t, "secret")
	for i, name := range []string{"header", "parent", "metadata", "content"} {
		frames, err := s.Encode(testMessage())
		if err != nil {
			t.Fatal(err)
		}
		idx := 4 + i // 2 identities, delimiter, signature
		frames[idx] = bytes.Replace(frames[idx], []byte("}"), []byte(` }`), 1)
		if _, err := s.Decode(frames); !errors.Is(err, ErrBadSignature) {
			t.Errorf("tampered %s: err = %v, want ErrBadSignature", name, err)
		}
	}
	// Identities and buffers are not signed (as in the spec): changing them is allowed.
	frames, _ := s.Encode(testMessage())
	frames[0] = []byte("other-id")
	if _, err := s.Decode(frames); err != nil {
		t.Errorf("changed identity: %v", err)
	}
}

func TestEmptyKeyNoSigning(t *testing.T) {
	s := mustSigner(t, "")
	frames, err := s.Encode(testMessage())
	if err != nil {
		t.Fatal(err)
	}
	if len(frames[3]) != 0 {
		t.Errorf("signature with empty key = %q, want empty", frames[3])
	}
	frames[3] = []byte("whatever")
	if _, err := s.Decode(frames); err != nil {
		t.Errorf("empty key must not check signatures: %v", err)
	}
	// A keyed signer must not accept unsigned messages.
	frames[3] = nil
	if _, err := mustSigner(t, "k").Decode(frames); !errors.Is(err, ErrBadSignature) {
		t.Errorf("keyed signer accepted unsigned message: %v", err)
	}
}

func TestEmptyParentHeaderWire(t *testing.T) {
	s := mustSigner(t, "k")
	m := &Message{Header: NewHeader(MsgStatus, "s", "u"), Content: json.RawMessage(`{"execution_state":"starting"}`)}
	frames, err := s.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	// no identities: delimiter, sig, header, parent, metadata, content
	if string(frames[3]) != "{}" {
		t.Errorf("empty parent on the wire = %s, want {}", frames[3])
	}
	if string(frames[4]) != "{}" {
		t.Errorf("nil metadata on the wire = %s, want {}", frames[4])
	}
	got, err := s.Decode(frames)
	if err != nil {
		t.Fatal(err)
	}
	if !got.ParentHeader.IsZero() {
		t.Errorf("{} parent decoded to %+v", got.ParentHeader)
	}
	if got.Identities != nil || got.Buffers != nil {
		t.Errorf("identities %q buffers %q, want none", got.Identities, got.Buffers)
	}
	m.Content = nil
	frames, _ = s.Encode(m)
	if string(frames[5]) != "{}" {
		t.Errorf("nil content on the wire = %s, want {}", frames[5])
	}
}

func TestDecodeMalformed(t *testing.T) {
	s := mustSigner(t, "")
	good := func() [][]byte {
		return [][]byte{[]byte("id"), delimiter, nil, []byte(`{"msg_type":"execute_request","msg_id":"1"}`), []byte("{}"), []byte("{}"), []byte("{}")}
	}
	cases := map[string]func([][]byte) [][]byte{
		"no frames":       func([][]byte) [][]byte { return nil },
		"no delimiter":    func(f [][]byte) [][]byte { return append(f[:1:1], f[2:]...) },
		"too few frames":  func(f [][]byte) [][]byte { return f[:5] },
		"header not json": func(f [][]byte) [][]byte { f[3] = []byte("{nope}"); return f },
		"header is null":  func(f [][]byte) [][]byte { f[3] = []byte("null"); return f },
		"no msg_type":     func(f [][]byte) [][]byte { f[3] = []byte(`{"msg_id":"1"}`); return f },
		"header wrong type": func(f [][]byte) [][]byte {
			f[3] = []byte(`{"msg_type":"x","msg_id":7}`)
			return f
		},
		"parent is a list":   func(f [][]byte) [][]byte { f[4] = []byte("[]"); return f },
		"metadata is string": func(f [][]byte) [][]byte { f[5] = []byte(`"x"`); return f },
		"content is number":  func(f [][]byte) [][]byte { f[6] = []byte("1"); return f },
		"content broken":     func(f [][]byte) [][]byte { f[6] = []byte(`{"a":}`); return f },
	}
	if _, err := s.Decode(good()); err != nil {
		t.Fatalf("baseline: %v", err)
	}
	for name, mutate := range cases {
		_, err := s.Decode(mutate(good()))
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestNewSignerSchemes(t *testing.T) {
	for _, ok := range []string{"hmac-sha256", "hmac-sha512", "hmac-sha1"} {
		if _, err := NewSigner(ok, "k"); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	if _, err := NewSigner("hmac-md4", "k"); err == nil || !strings.Contains(err.Error(), "hmac-md4") {
		t.Errorf("unsupported scheme: err = %v", err)
	}
}

func TestHeaderDateFormat(t *testing.T) {
	h := NewHeader(MsgStatus, "s", "u")
	// ISO 8601 with microseconds and Z, as jupyter_client's date parsing expects.
	if len(h.Date) != len("2006-01-02T15:04:05.000000Z") || !strings.HasSuffix(h.Date, "Z") {
		t.Errorf("date %q", h.Date)
	}
	if h.Version != ProtocolVersion || h.MsgID == "" {
		t.Errorf("header %+v", h)
	}
}
