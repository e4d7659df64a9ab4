package mpi

import (
	"encoding/binary"
	"reflect"
)

// Status describes a received message.
type Status struct {
	Source int // the sender's rank
	Tag    int
	Count  int // elements for a raw slice, 1 for a gob value
}

// A point-to-point message is an envelope on the World's first
// communicator — type code, element count, and the payload itself when it
// is a gob value or at most inlineMax bytes — followed, for larger raw
// slices, by the payload alone on the second communicator with the same
// tag, sent and received in place without copies. The envelope lets Recv
// check type and size before anything is written to the caller's memory;
// MPI's non-overtaking rule (same sender, same communicator, same tag) pairs
// envelope and payload. Send from one goroutine per destination and tag.
const (
	envHeader = 24
	inlineMax = 32 << 10
)

func envelope(code, n int, inline bool, payload []byte) []byte {
	b := make([]byte, envHeader, envHeader+len(payload))
	binary.LittleEndian.PutUint64(b[0:], uint64(code))
	binary.LittleEndian.PutUint64(b[8:], uint64(n))
	if inline {
		binary.LittleEndian.PutUint64(b[16:], 1)
	}
	return append(b, payload...)
}

// Send sends data to rank dest with tag (≥ 0), returning when the message
// is on its way (for large slices: when the receiver has taken it).
// []float64, []int and []byte (or pointers to them) travel raw; any other
// value or pointer is gob-encoded.
func (w *World) Send(data any, dest, tag int) error {
	o, err := w.begin("Send")
	if err != nil {
		return err
	}
	defer o.end()
	reqs, err := o.isend(data, dest, tag)
	if err != nil {
		return err
	}
	return o.waitAll(reqs...)
}

func (o *op) isend(data any, dest, tag int) ([]*Request, error) {
	if err := o.comm.checkRank(o.name, "dest", dest, false); err != nil {
		return nil, err
	}
	if err := checkTag(o.name, tag, false); err != nil {
		return nil, err
	}
	a := classify(data)
	var env []byte
	var payload buffer
	switch a.kind {
	case kNone:
		return nil, o.errorf("data is nil")
	case kGob:
		enc, err := encode(a.v.Interface())
		if err != nil {
			return nil, o.wrap(err)
		}
		env = envelope(gobCode, 1, true, enc)
	default:
		b := a.buf()
		if raw := sliceBytes(b); len(raw) <= inlineMax {
			env = envelope(a.code(), b.n, true, raw)
		} else {
			env = envelope(a.code(), b.n, false, nil)
			payload = b
		}
	}
	eb := bytesBuffer(env)
	r1, err := o.comm.start(o.name, func(c cComm) (cRequest, error) { return cIsend(eb, dest, tag, c) }, eb)
	if err != nil {
		return nil, o.wrap(err)
	}
	if payload.p == nil {
		return []*Request{r1}, nil
	}
	r2, err := o.data.start(o.name, func(c cComm) (cRequest, error) { return cIsend(payload, dest, tag, c) }, payload)
	if err != nil {
		// The envelope is out and its payload will never follow; the
		// receiver would wait for it. Treat as an abandoned operation.
		o.w.mu.Lock()
		o.w.dirty = true
		o.w.mu.Unlock()
		return nil, o.wrap(err)
	}
	return []*Request{r1, r2}, nil
}

// Recv receives a message from source (or AnySource) with tag (or AnyTag)
// into data:
//
//   - []float64, []int, []byte: filled from the start; the message may be
//     shorter (Status.Count tells), a longer one is an error.
//   - *[]float64, *[]int, *[]byte: resized to the message.
//   - any other pointer: a gob value is decoded into it.
//
// A message of another type, or too long, is an error naming sender, tag,
// type and length; it is consumed (discarded). Waiting for a message to
// arrive is interruptible and leaves the World clean.
func (w *World) Recv(data any, source, tag int) (Status, error) {
	o, err := w.begin("Recv")
	if err != nil {
		return Status{}, err
	}
	defer o.end()
	return o.recv(data, source, tag)
}

func (o *op) recv(data any, source, tag int) (Status, error) {
	if err := o.comm.checkRank(o.name, "source", source, true); err != nil {
		return Status{}, err
	}
	if err := checkTag(o.name, tag, true); err != nil {
		return Status{}, err
	}
	a := classify(data)
	switch {
	case a.kind == kNone:
		return Status{}, o.errorf("data is nil; want a slice or a non-nil pointer")
	case a.kind == kGob && a.v.Kind() != reflect.Pointer:
		return Status{}, o.errorf("data of type %s must be a slice or a pointer", typeName(data))
	}
	// Wait for an envelope. Nothing is pending while we probe, so an
	// interrupt here leaves the World clean.
	var m *Incoming
	err := o.w.poll.Wait(o.ctx, func() (ok bool, err error) {
		m, ok, err = o.comm.Probe(source, tag)
		return ok, err
	})
	if err != nil {
		return Status{}, o.wrap(err)
	}
	env, src, tg, err := m.Recv()
	if err != nil {
		return Status{}, o.wrap(err)
	}
	if len(env) < envHeader {
		return Status{}, o.errorf("malformed message of %d bytes from rank %d (tag %d)", len(env), src, tg)
	}
	code := int(binary.LittleEndian.Uint64(env[0:]))
	n := int(binary.LittleEndian.Uint64(env[8:]))
	inline := binary.LittleEndian.Uint64(env[16:]) == 1
	payload := env[envHeader:]
	st := Status{Source: src, Tag: tg, Count: n}

	if code == gobCode {
		if a.kind != kGob {
			return st, o.errorf("message from rank %d (tag %d) holds a gob value, not %s; receive it into a pointer to a matching value", src, tg, typeName(data))
		}
		if err := decode(payload, a.v); err != nil {
			return st, o.errorf("message from rank %d (tag %d): %w", src, tg, err)
		}
		return st, nil
	}
	if code < 1 || code > 3 {
		return st, o.errorf("malformed message from rank %d (tag %d): type code %d", src, tg, code)
	}
	t := elemType(code - 1)
	var fail error
	switch {
	case (a.kind != kSlice && a.kind != kSlicePtr) || a.t != t:
		fail = o.errorf("message from rank %d (tag %d) holds %d %s, cannot receive into %s; message discarded", src, tg, n, t, typeName(data))
	case a.kind == kSlice && n > a.len():
		fail = o.errorf("message from rank %d (tag %d) holds %d %s, buffer has room for %d; message discarded", src, tg, n, t, a.len())
	}
	if fail != nil {
		if !inline { // the payload follows; take it off the queue
			junk := bytesBuffer(make([]byte, n*t.size()))
			if r, err := o.data.start(o.name, func(c cComm) (cRequest, error) { return cIrecv(junk, src, tg, c) }, junk); err == nil {
				o.wait(r)
			}
		}
		return st, fail
	}
	if a.kind == kSlicePtr {
		a.resize(n)
	}
	b := a.buf()
	b.n = n
	if inline {
		copy(sliceBytes(b), payload)
		return st, nil
	}
	r, err := o.data.start(o.name, func(c cComm) (cRequest, error) { return cIrecv(b, src, tg, c) }, b)
	if err != nil {
		return st, o.wrap(err)
	}
	return st, o.wait(r)
}

// Sendrecv sends send to dest and receives into recv from source at the
// same time (as MPI_Sendrecv), so that a ring shift cannot deadlock. The
// argument forms are those of Send and Recv.
func (w *World) Sendrecv(send any, dest, sendTag int, recv any, source, recvTag int) (Status, error) {
	o, err := w.begin("Sendrecv")
	if err != nil {
		return Status{}, err
	}
	defer o.end()
	reqs, err := o.isend(send, dest, sendTag)
	if err != nil {
		return Status{}, err
	}
	st, err := o.recv(recv, source, recvTag)
	if err != nil {
		return st, err
	}
	return st, o.waitAll(reqs...)
}
