package jupyter

import "time"

// Options tune the five sockets. The zero value of a field means its
// default; ListenWith(info, log, Options{}) is Listen(info, log).
//
// The defaults are chosen so that a local user who lacks the key can neither
// kill nor stall the kernel (issue 10), while any legitimate frontend is
// unaffected.
type Options struct {
	// MaxMessageSize bounds one frame received on shell, control or stdin
	// (ZMQ_MAXMSGSIZE). A peer announcing a bigger frame is disconnected
	// before anything is allocated. Default DefaultMaxMessageSize; -1 means
	// no limit (libzmq's own default, which lets a 73-byte header announce
	// 2^40 bytes).
	MaxMessageSize int64
	// MaxPingSize bounds one frame received on the heartbeat socket and one
	// subscription frame on iopub, where legitimate frames are a few bytes
	// (jupyter_client pings with "ping" and subscribes to ""). Default
	// DefaultMaxPingSize.
	MaxPingSize int64
	// HandshakeTimeout drops a connection that has not completed the ZMTP
	// greeting in time (ZMQ_HANDSHAKE_IVL). libzmq handshakes each
	// connection on its own, so an idle one never delays others; the
	// deadline only frees its resources. Default DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// IOPubHWM is the number of messages queued for one iopub subscriber
	// (ZMQ_SNDHWM of the PUB socket, counted per subscriber). A subscriber
	// that falls that far behind loses messages; the others and the kernel
	// are unaffected. Default DefaultIOPubHWM.
	IOPubHWM int
	// Linger is how long Close lets queued messages (a shutdown_reply, the
	// last idle status) drain before the sockets go (ZMQ_LINGER). Close
	// never takes much longer than this. Default DefaultLinger.
	Linger time.Duration
	// ReplayHistory is how many signatures of received messages are
	// remembered to refuse replays. Default DefaultReplayHistory; -1 turns
	// the check off.
	ReplayHistory int
}

// Defaults of Options.
const (
	// DefaultMaxMessageSize (1 GiB) is 20 times the 50 MB frames that
	// legitimate clients are known to send (file uploads through widgets,
	// big comm buffers) and far below what would exhaust a workstation: to
	// make the kernel hold a gigabyte, a peer must actually send one.
	DefaultMaxMessageSize int64 = 1 << 30
	// DefaultMaxPingSize (64 KiB) is thousands of times what any frontend
	// sends on heartbeat or as an iopub subscription.
	DefaultMaxPingSize int64 = 64 << 10
	// DefaultHandshakeTimeout (10 s): a local or tunnelled client greets in
	// milliseconds; libzmq's own default is 30 s.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultIOPubHWM is libzmq's default high-water mark, the one
	// ipykernel runs with.
	DefaultIOPubHWM = 1000
	// DefaultLinger: ipykernel lingers 1 s on iopub for the same reason.
	DefaultLinger = time.Second
)

// heartbeatHWM bounds what a heartbeat peer can have queued in each
// direction. A frontend has one ping in flight; the rest is an abuser's.
const heartbeatHWM = 16

func (o Options) withDefaults() Options {
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.MaxPingSize == 0 {
		o.MaxPingSize = DefaultMaxPingSize
	}
	if o.HandshakeTimeout == 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.IOPubHWM == 0 {
		o.IOPubHWM = DefaultIOPubHWM
	}
	if o.Linger == 0 {
		o.Linger = DefaultLinger
	}
	if o.ReplayHistory == 0 {
		o.ReplayHistory = DefaultReplayHistory
	}
	if o.ReplayHistory < 0 {
		o.ReplayHistory = 0
	}
	return o
}
