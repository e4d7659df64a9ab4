package session

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// stream captures one output stream (stdout or stderr) of the interpreter.
//
// yaegi only rebinds os.Stdout/os.Stderr for interpreted code when they are
// *os.File values, and cell code may keep a reference to os.Stdout, write to
// it from goroutines, pass it to compiled code… so the capture is a real
// os.Pipe: everything written to its write end is read by a goroutine and
// forwarded, chunk by chunk as it arrives, to the sink.
//
// To know that everything a cell wrote has reached the sink, sync writes a
// marker (unique per stream) into the pipe and waits until the reader has
// seen it: the pipe is FIFO, so every byte written before the marker has been
// forwarded by then. The marker is shorter than PIPE_BUF, so the kernel writes
// it atomically even when goroutines write concurrently.
type stream struct {
	r, w   *os.File
	sink   io.Writer
	marker []byte
	synced chan struct{} // one value per marker seen
	done   chan struct{} // closed when the reader goroutine has ended
	syncMu sync.Mutex    // one sync at a time
}

// newStream starts a capture forwarding to sink (nil discards).
func newStream(sink io.Writer) (*stream, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("session: output pipe: %w", err)
	}
	var id [12]byte
	if _, err := rand.Read(id[:]); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("session: marker: %w", err)
	}
	if sink == nil {
		sink = io.Discard
	}
	s := &stream{
		r: r, w: w, sink: sink,
		marker: []byte("\x00gompi-sync-" + hex.EncodeToString(id[:]) + "\x00"),
		synced: make(chan struct{}, 16),
		done:   make(chan struct{}),
	}
	go s.read()
	return s, nil
}

// read forwards pipe data to the sink, stripping and signalling markers.
// A tail that could be the beginning of a marker is held back until the next
// read decides; markers start with a NUL byte, so ordinary text is forwarded
// at once.
func (s *stream) read() {
	defer close(s.done)
	buf := make([]byte, 32*1024)
	var pending []byte
	for {
		n, err := s.r.Read(buf)
		if n > 0 {
			pending = append(pending, buf[:n]...)
			pending = s.forward(pending)
		}
		if err != nil {
			if len(pending) > 0 {
				_, _ = s.sink.Write(pending)
			}
			return
		}
	}
}

// forward writes out data up to any marker or possible marker prefix, and
// returns what must be kept for later.
func (s *stream) forward(data []byte) []byte {
	for {
		i := bytes.Index(data, s.marker)
		if i < 0 {
			break
		}
		if i > 0 {
			_, _ = s.sink.Write(data[:i])
		}
		data = data[i+len(s.marker):]
		s.synced <- struct{}{}
	}
	keep := partialSuffix(data, s.marker)
	if out := data[:len(data)-keep]; len(out) > 0 {
		_, _ = s.sink.Write(out)
	}
	return append([]byte(nil), data[len(data)-keep:]...)
}

// partialSuffix returns the length of the longest suffix of data that is a
// proper prefix of marker.
func partialSuffix(data, marker []byte) int {
	for k := min(len(marker)-1, len(data)); k > 0; k-- {
		if bytes.HasSuffix(data, marker[:k]) && bytes.HasPrefix(marker, data[len(data)-k:]) {
			return k
		}
	}
	return 0
}

// sync returns once everything written to the stream before the call has
// been handed to the sink.
func (s *stream) sync() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if _, err := s.w.Write(s.marker); err != nil {
		return fmt.Errorf("session: sync output: %w", err)
	}
	select {
	case <-s.synced:
		return nil
	case <-s.done:
		return errors.New("session: output reader ended")
	}
}

// close ends the capture after forwarding what is still in the pipe.
func (s *stream) close() error {
	err := s.w.Close()
	<-s.done
	return errors.Join(err, s.r.Close())
}
