package session

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
)

// stream captures one output stream (stdout or stderr) of the interpreter.
//
// yaegi only rebinds os.Stdout/os.Stderr for interpreted code when they are
// *os.File values, and cell code may keep a reference to os.Stdout, write to
// it from goroutines, pass it to compiled code… so the capture is a real
// os.Pipe: everything written to its write end is read by a goroutine and
// forwarded, chunk by chunk as it arrives, to the sink.
//
// To know that everything a cell wrote has reached the sink, sync drains the
// pipe itself. Every read of the pipe, the reader's or sync's, happens under
// mu together with forwarding what it read, so once sync holds mu no byte
// taken from the pipe is still on its way, and what sync then reads until
// the pipe is empty is all that was written before. An earlier design wrote
// a marker into the pipe and waited for the reader to see it: two goroutine
// hand-offs and four system calls per stream, ~7 % of a worker's
// CPU for a trivial cell; an empty pipe now costs one read that finds
// nothing.
type stream struct {
	r, w *os.File
	rc   syscall.RawConn // r's: the reads are made by hand (drain)
	sink io.Writer
	done chan struct{} // closed when the reader goroutine has ended

	mu  sync.Mutex // held while reading the pipe and forwarding what was read
	buf []byte     // under mu
}

// newStream starts a capture forwarding to sink (nil discards).
func newStream(sink io.Writer) (*stream, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("session: output pipe: %w", err)
	}
	rc, err := r.SyscallConn()
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("session: output pipe: %w", err)
	}
	if sink == nil {
		sink = io.Discard
	}
	s := &stream{r: r, w: w, rc: rc, sink: sink, done: make(chan struct{}), buf: make([]byte, 32*1024)}
	go s.read()
	return s, nil
}

// errEmpty is drain's report of a pipe with nothing more to read now.
var errEmpty = errors.New("pipe empty")

// drain forwards what the pipe holds until it is empty (errEmpty), at its
// end (io.EOF: every write end closed) or failing. s.mu must be held.
func (s *stream) drain(fd int) error {
	for {
		n, err := syscall.Read(fd, s.buf)
		switch {
		case n > 0:
			_, _ = s.sink.Write(s.buf[:n])
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			return errEmpty
		case err != nil:
			return err
		default:
			return io.EOF
		}
	}
}

// read forwards pipe data to the sink as it arrives, until the pipe's end.
// The read end is non-blocking and in Go's poller (os.Pipe): RawConn.Read
// parks this goroutine until the pipe is readable, without holding mu.
func (s *stream) read() {
	defer close(s.done)
	_ = s.rc.Read(func(fd uintptr) bool {
		s.mu.Lock()
		err := s.drain(int(fd))
		s.mu.Unlock()
		return err != errEmpty
	})
}

// sync returns once everything written to the stream before the call has
// been handed to the sink.
func (s *stream) sync() error {
	select {
	case <-s.done:
		return errors.New("session: output reader ended")
	default:
	}
	var derr error
	// Control, unlike Read, does not wait for the reader parked in Read.
	err := s.rc.Control(func(fd uintptr) {
		s.mu.Lock()
		derr = s.drain(int(fd))
		s.mu.Unlock()
	})
	if err == nil && derr != errEmpty {
		err = derr
	}
	if err != nil {
		return fmt.Errorf("session: sync output: %w", err)
	}
	return nil
}

// close ends the capture after forwarding what is still in the pipe.
func (s *stream) close() error {
	err := s.w.Close()
	<-s.done
	return errors.Join(err, s.r.Close())
}
