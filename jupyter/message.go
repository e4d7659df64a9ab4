package jupyter

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"time"

	"github.com/google/uuid"
)

// ProtocolVersion is the messaging protocol version the kernel speaks; it goes
// in every header and in kernel_info_reply, and frontends use it to decide
// which fields to expect.
const ProtocolVersion = "5.3"

// MsgType names a message kind. A distinct type (rather than bare strings)
// lets the compiler catch a misspelt "excute_reply", which frontends would
// otherwise silently ignore.
type MsgType string

// Shell channel messages: requests from the frontend that the kernel answers
// one at a time, in order.
const (
	MsgExecuteRequest    MsgType = "execute_request"
	MsgExecuteReply      MsgType = "execute_reply"
	MsgInspectRequest    MsgType = "inspect_request"
	MsgInspectReply      MsgType = "inspect_reply"
	MsgCompleteRequest   MsgType = "complete_request"
	MsgCompleteReply     MsgType = "complete_reply"
	MsgHistoryRequest    MsgType = "history_request"
	MsgHistoryReply      MsgType = "history_reply"
	MsgIsCompleteRequest MsgType = "is_complete_request"
	MsgIsCompleteReply   MsgType = "is_complete_reply"
	MsgConnectRequest    MsgType = "connect_request" // deprecated in 5.1, still sent by old clients
	MsgConnectReply      MsgType = "connect_reply"
	MsgCommInfoRequest   MsgType = "comm_info_request"
	MsgCommInfoReply     MsgType = "comm_info_reply"
	MsgKernelInfoRequest MsgType = "kernel_info_request" // also valid on control
	MsgKernelInfoReply   MsgType = "kernel_info_reply"
)

// Control channel messages: served even while a shell request is running,
// which is why they have their own channel.
const (
	MsgShutdownRequest  MsgType = "shutdown_request"
	MsgShutdownReply    MsgType = "shutdown_reply"
	MsgInterruptRequest MsgType = "interrupt_request"
	MsgInterruptReply   MsgType = "interrupt_reply"
	MsgDebugRequest     MsgType = "debug_request"
	MsgDebugReply       MsgType = "debug_reply"
)

// IOPub messages: broadcast side effects (output, state) that every connected
// frontend sees.
const (
	MsgStatus            MsgType = "status"
	MsgStream            MsgType = "stream"
	MsgDisplayData       MsgType = "display_data"
	MsgUpdateDisplayData MsgType = "update_display_data"
	MsgExecuteInput      MsgType = "execute_input"
	MsgExecuteResult     MsgType = "execute_result"
	MsgError             MsgType = "error"
	MsgClearOutput       MsgType = "clear_output"
	MsgDebugEvent        MsgType = "debug_event"
)

// Stdin messages: the kernel asks the frontend for a line of input while a cell
// runs (the one direction where the kernel is the requester).
const (
	MsgInputRequest MsgType = "input_request"
	MsgInputReply   MsgType = "input_reply"
)

// Comm messages: custom bidirectional channels (widgets); they travel on shell
// (frontend to kernel) and iopub (kernel to frontend).
const (
	MsgCommOpen  MsgType = "comm_open"
	MsgCommMsg   MsgType = "comm_msg"
	MsgCommClose MsgType = "comm_close"
)

// Header identifies a message; a reply's parent header is the request's header,
// which is how frontends match output to the cell that caused it.
type Header struct {
	MsgID    string  `json:"msg_id"`
	Session  string  `json:"session"`
	Username string  `json:"username"`
	Date     string  `json:"date"`
	MsgType  MsgType `json:"msg_type"`
	Version  string  `json:"version"`
}

// IsZero reports whether h is the empty parent header of a message that
// answers nothing (the wire form is {}).
func (h Header) IsZero() bool { return h == Header{} }

// NewHeader makes a header for a new message sent by session, stamped now.
func NewHeader(t MsgType, session, username string) Header {
	return Header{
		MsgID:    uuid.NewString(),
		Session:  session,
		Username: username,
		Date:     time.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00"),
		MsgType:  t,
		Version:  ProtocolVersion,
	}
}

// Message is one Jupyter message with its zmq routing envelope. Identities are
// the ROUTER routing frames (or the iopub topic); they must be sent back
// unchanged for a reply to reach the right frontend. Content stays raw JSON
// because its shape depends on Header.MsgType; unmarshal it into the matching
// struct of content.go.
type Message struct {
	Identities   [][]byte
	Header       Header
	ParentHeader Header
	Metadata     map[string]any
	Content      json.RawMessage
	Buffers      [][]byte
}

// Errors from Decode. They are wrapped with detail, so test with errors.Is.
var (
	// ErrBadSignature means the HMAC did not match: the sender does not hold
	// the key (or the message was altered), so it must not be acted on.
	ErrBadSignature = errors.New("jupyter: bad message signature")
	// ErrMalformed means the frames do not form a Jupyter message.
	ErrMalformed = errors.New("jupyter: malformed message")
)

// delimiter separates the routing identities from the message proper.
var delimiter = []byte("<IDS|MSG>")

// Signer signs outgoing and authenticates incoming messages with the
// connection file's key; it is what stops other local users from running code
// in the kernel. Safe for concurrent use.
type Signer struct {
	newHash func() hash.Hash
	key     []byte
}

// NewSigner accepts the connection file's scheme and key. An empty key turns
// signing off (signatures are sent empty and not checked), which the spec
// allows for trusted setups.
func NewSigner(scheme, key string) (*Signer, error) {
	var h func() hash.Hash
	switch scheme {
	case "hmac-sha256", "":
		h = sha256.New
	case "hmac-sha512":
		h = sha512.New
	case "hmac-sha1":
		h = sha1.New
	default:
		return nil, fmt.Errorf("jupyter: unsupported signature scheme %q", scheme)
	}
	return &Signer{newHash: h, key: []byte(key)}, nil
}

// sign returns the hex HMAC of the four signed parts, or nil without a key.
func (s *Signer) sign(parts [][]byte) []byte {
	if len(s.key) == 0 {
		return nil
	}
	mac := hmac.New(s.newHash, s.key)
	for _, p := range parts {
		mac.Write(p)
	}
	sum := mac.Sum(nil)
	out := make([]byte, hex.EncodedLen(len(sum)))
	hex.Encode(out, sum)
	return out
}

// Encode produces the wire frames of m: identities, "<IDS|MSG>", signature,
// header, parent header, metadata, content, buffers. A zero ParentHeader goes
// out as {} and nil Metadata/Content as {}, as the spec requires.
func (s *Signer) Encode(m *Message) ([][]byte, error) {
	header, err := json.Marshal(m.Header)
	if err != nil {
		return nil, fmt.Errorf("jupyter: encode header: %w", err)
	}
	parent := []byte("{}")
	if !m.ParentHeader.IsZero() {
		if parent, err = json.Marshal(m.ParentHeader); err != nil {
			return nil, fmt.Errorf("jupyter: encode parent header: %w", err)
		}
	}
	metadata := []byte("{}")
	if len(m.Metadata) > 0 {
		if metadata, err = json.Marshal(m.Metadata); err != nil {
			return nil, fmt.Errorf("jupyter: encode metadata: %w", err)
		}
	}
	content := []byte(m.Content)
	if len(bytes.TrimSpace(content)) == 0 {
		content = []byte("{}")
	}
	frames := make([][]byte, 0, len(m.Identities)+6+len(m.Buffers))
	frames = append(frames, m.Identities...)
	frames = append(frames, delimiter, s.sign([][]byte{header, parent, metadata, content}),
		header, parent, metadata, content)
	frames = append(frames, m.Buffers...)
	return frames, nil
}

// Decode parses and authenticates wire frames. It never panics on any input
// (it is fuzzed): a bad signature gives ErrBadSignature, anything else that is
// not a well-formed message gives ErrMalformed, both wrapped with the reason.
// The signature is checked before any JSON is parsed, in constant time.
func (s *Signer) Decode(frames [][]byte) (*Message, error) {
	idx := -1
	for i, f := range frames {
		if bytes.Equal(f, delimiter) {
			idx = i
			break
		}
	}
	if idx < 0 {
		return nil, fmt.Errorf("%w: no <IDS|MSG> delimiter in %d frames", ErrMalformed, len(frames))
	}
	rest := frames[idx+1:]
	if len(rest) < 5 {
		return nil, fmt.Errorf("%w: %d frames after delimiter, want at least 5", ErrMalformed, len(rest))
	}
	sig, signed := rest[0], rest[1:5]
	if want := s.sign(signed); want != nil {
		got := bytes.ToLower(sig)
		if !hmac.Equal(got, want) {
			return nil, fmt.Errorf("%w: signature %.16q does not match", ErrBadSignature, sig)
		}
	}
	m := &Message{}
	if !isObject(signed[0]) {
		return nil, fmt.Errorf("%w: header is not a JSON object", ErrMalformed)
	}
	if err := json.Unmarshal(signed[0], &m.Header); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	if m.Header.MsgType == "" {
		return nil, fmt.Errorf("%w: header has no msg_type", ErrMalformed)
	}
	if !isObject(signed[1]) {
		return nil, fmt.Errorf("%w: parent header is not a JSON object", ErrMalformed)
	}
	if err := json.Unmarshal(signed[1], &m.ParentHeader); err != nil {
		return nil, fmt.Errorf("%w: parent header: %v", ErrMalformed, err)
	}
	if !isObject(signed[2]) {
		return nil, fmt.Errorf("%w: metadata is not a JSON object", ErrMalformed)
	}
	if err := json.Unmarshal(signed[2], &m.Metadata); err != nil {
		return nil, fmt.Errorf("%w: metadata: %v", ErrMalformed, err)
	}
	if !isObject(signed[3]) || !json.Valid(signed[3]) {
		return nil, fmt.Errorf("%w: content is not a JSON object", ErrMalformed)
	}
	m.Content = append(json.RawMessage(nil), signed[3]...)
	m.Identities = copyFrames(frames[:idx])
	m.Buffers = copyFrames(rest[5:])
	return m, nil
}

// isObject is a cheap pre-check that data is a JSON object rather than null, a
// list or a scalar (json.Unmarshal accepts null into a struct silently).
func isObject(data []byte) bool {
	d := bytes.TrimSpace(data)
	return len(d) >= 2 && d[0] == '{' && d[len(d)-1] == '}'
}

func copyFrames(fs [][]byte) [][]byte {
	if len(fs) == 0 {
		return nil
	}
	out := make([][]byte, len(fs))
	for i, f := range fs {
		out[i] = append([]byte{}, f...)
	}
	return out
}
