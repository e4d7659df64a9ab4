// Package console is a terminal Jupyter client for gompi-kernel, written in
// Go so that it needs nothing but the binary and OpenMPI: line editing and
// history, Tab completion (complete_request), multi-line input
// (is_complete_request), Ctrl-C that interrupts a running cell
// (interrupt_request on control, which Debian's jupyter-console 6.4 never
// sends) and clears the line when idle, Ctrl-D to quit, rank-labelled
// output, input_request answered, errors in red.
//
// It starts its own kernel on N ranks through mpirun (Options.Ranks) or
// attaches to a running one by its connection file (Options.Existing).
package console

import "github.com/gompi-kernel/gompi-kernel/jupyter"

// Transport moves a kernel's wire frames (already signed, see
// jupyter.Signer) between the console and the kernel's sockets. It is the
// console's only contact with a ZeroMQ library, so that replacing the
// library is one file (zmq.go, over jupyter.Client).
type Transport interface {
	// Send sends one message's frames on jupyter.Shell, jupyter.Control
	// or jupyter.Stdin. Safe for concurrent use across channels.
	Send(ch jupyter.Channel, frames [][]byte) error
	// Recv blocks for the next message on jupyter.Shell, jupyter.Control,
	// jupyter.Stdin or jupyter.IOPub (all of it, no topic filter); one
	// reader per channel. It returns an error once the transport is closed.
	Recv(ch jupyter.Channel) ([][]byte, error)
	// Close ends every socket; blocked Recvs return.
	Close() error
}
