package mpi

import (
	"fmt"
	"reflect"
)

// Header fields exchanged before every collective (see World).
const (
	hCode = iota // codeName of the data
	hN           // this rank's element count (or encoded length)
	hM           // a second count: flags or the root's send length
	hRoot
	hOp
	hBad // 1: this rank's own arguments are invalid
	hLen
)

type header [hLen]int

// exchange shares every rank's header (MPI_Iallgather). If any rank
// reported bad arguments, every rank returns an error: its own local error,
// or one naming the ranks that had one.
func (o *op) exchange(h header, local error) ([]header, error) {
	if local != nil {
		h[hBad] = 1
	}
	size := o.comm.Size()
	send := h[:]
	recv := make([]int, hLen*size)
	sb := buffer{p: ptrOf(send), n: hLen, t: tInt}
	rb := buffer{p: ptrOf(recv), n: len(recv), t: tInt}
	r, err := o.comm.start(o.name, func(c cComm) (cRequest, error) { return cIallgather(sb, rb, hLen, c) }, sb, rb)
	if err != nil {
		return nil, o.wrap(err)
	}
	if err := o.wait(r); err != nil {
		return nil, err
	}
	hs := make([]header, size)
	var bad []int
	for i := range hs {
		copy(hs[i][:], recv[i*hLen:])
		if hs[i][hBad] != 0 {
			bad = append(bad, i)
		}
	}
	if local != nil {
		return nil, local
	}
	if len(bad) > 0 {
		return nil, o.errorf("not run: invalid arguments on rank(s) %v", bad)
	}
	return hs, nil
}

// exchangeRooted exchanges the headers of a rooted collective and checks
// that every rank names the same root and the same data type.
func (o *op) exchangeRooted(h header, local error) ([]header, error) {
	hs, err := o.exchange(h, local)
	if err != nil {
		return nil, err
	}
	if err := o.agree(hs, hRoot, "root", itoa); err != nil {
		return nil, err
	}
	if err := o.agree(hs, hCode, "the data type", codeName); err != nil {
		return nil, err
	}
	return hs, nil
}

// agree checks that field f is the same on all ranks.
func (o *op) agree(hs []header, f int, what string, show func(int) string) error {
	for _, h := range hs {
		if h[f] != hs[0][f] {
			vals := make([]string, len(hs))
			for i := range hs {
				vals[i] = show(hs[i][f])
			}
			return o.errorf("ranks disagree on %s: %s", what, listRanks(vals))
		}
	}
	return nil
}

func itoa(i int) string { return fmt.Sprint(i) }

func (o *op) checkRoot(root int) error {
	return o.comm.checkRank(o.name, "root", root, false)
}

// Bcast sends data from root to every rank.
//
//   - []float64, []int, []byte: in place; every rank must pass the root's
//     length (else every rank gets an error listing the lengths).
//   - *[]float64, *[]int, *[]byte: the slice is resized to the root's.
//   - any other pointer: the root's value is gob-encoded and decoded into
//     the pointer on the other ranks (e.g. &myStruct, &myMap).
func (w *World) Bcast(data any, root int) error {
	o, err := w.begin("Bcast")
	if err != nil {
		return err
	}
	defer o.end()
	a := classify(data)
	rank := o.comm.Rank()
	var local error
	var enc []byte
	h := header{hCode: a.code(), hRoot: root}
	switch {
	case o.checkRoot(root) != nil:
		local = o.checkRoot(root)
	case a.kind == kNone:
		local = o.errorf("data is nil; want a []float64, []int, []byte or a non-nil pointer")
	case a.kind == kGob && a.v.Kind() != reflect.Pointer:
		local = o.errorf("data of type %s must be a slice or a pointer (it is set on the receiving ranks)", typeName(data))
	case a.kind == kSlice || a.kind == kSlicePtr:
		h[hN] = a.len()
		if a.kind == kSlicePtr {
			h[hM] = 1 // resizable
		}
	case rank == root:
		if enc, err = encode(a.v.Interface()); err != nil {
			local = o.wrap(err)
		}
		h[hN] = len(enc)
	}
	hs, err := o.exchangeRooted(h, local)
	if err != nil {
		return err
	}
	n := hs[root][hN]
	if a.kind == kGob {
		if rank != root {
			enc = make([]byte, n)
		}
		b := bytesBuffer(enc)
		r, err := o.comm.start(o.name, func(c cComm) (cRequest, error) { return cIbcast(b, root, c) }, b)
		if err != nil {
			return o.wrap(err)
		}
		if err := o.wait(r); err != nil {
			return err
		}
		if rank != root {
			return o.wrap(decode(enc, a.v))
		}
		return nil
	}
	for i := range hs {
		if hs[i][hM] == 0 && hs[i][hN] != n {
			lens := make([]int, len(hs))
			for j := range hs {
				lens[j] = hs[j][hN]
			}
			return o.errorf("lengths differ from root %d's %d: %s", root, n, listRanks(lens))
		}
	}
	if a.kind == kSlicePtr && rank != root {
		a.resize(n)
	}
	b := a.buf()
	r, err := o.comm.start(o.name, func(c cComm) (cRequest, error) { return cIbcast(b, root, c) }, b)
	if err != nil {
		return o.wrap(err)
	}
	return o.wait(r)
}

// reduceArgs checks the arguments of Reduce and Allreduce on this rank.
// wantRecv says whether recv matters here.
func (o *op) reduceArgs(s, r arg, send, recv any, op Op, wantRecv bool) error {
	if !op.valid() {
		return o.errorf("unknown op %v (want Sum, Min, Max or Prod)", op)
	}
	if (s.kind != kSlice && s.kind != kSlicePtr) || s.t == tByte {
		return o.errorf("send must be a []float64 or []int, got %s", typeName(send))
	}
	if !wantRecv {
		return nil
	}
	if (r.kind != kSlice && r.kind != kSlicePtr) || r.t != s.t {
		return o.errorf("recv must be a []%s (or a pointer to one) like send, got %s", s.t, typeName(recv))
	}
	if r.kind == kSlice && r.len() != s.len() {
		return o.errorf("recv has %d elements, send %d: they must be equal", r.len(), s.len())
	}
	return nil
}

// Reduce combines send of every rank element-wise with op into recv on
// root. send and recv are []float64 or []int of equal length (recv may be a
// pointer to a slice, which is resized; recv is ignored on other ranks and
// may be nil there). recv may be send itself (MPI_IN_PLACE).
func (w *World) Reduce(send, recv any, op Op, root int) error {
	return w.reduce("Reduce", send, recv, op, root, false)
}

// Allreduce is Reduce with the result on every rank.
func (w *World) Allreduce(send, recv any, op Op) error {
	return w.reduce("Allreduce", send, recv, op, 0, true)
}

func (w *World) reduce(name string, send, recv any, op Op, root int, all bool) error {
	o, err := w.begin(name)
	if err != nil {
		return err
	}
	defer o.end()
	s, r := classify(send), classify(recv)
	rank := o.comm.Rank()
	wantRecv := all || rank == root
	local := o.checkRoot(root)
	if local == nil {
		local = o.reduceArgs(s, r, send, recv, op, wantRecv)
	}
	hs, err := o.exchangeRooted(header{hCode: s.code(), hN: s.len(), hRoot: root, hOp: int(op)}, local)
	if err != nil {
		return err
	}
	if err := o.agree(hs, hOp, "the op", func(i int) string { return Op(i).String() }); err != nil {
		return err
	}
	if err := o.agree(hs, hN, "the length", itoa); err != nil {
		return err
	}
	inPlace := false
	var rb buffer
	if wantRecv {
		if r.kind == kSlicePtr {
			r.resize(s.len())
		}
		inPlace = sameArray(s, r) // recv is send: MPI_IN_PLACE
		rb = r.buf()
	} else {
		rb = buffer{t: s.t}
	}
	sb := s.buf()
	if s.len() == 0 {
		return nil
	}
	var req *Request
	if all {
		req, err = o.comm.start(o.name, func(c cComm) (cRequest, error) { return cIallreduce(sb, rb, inPlace, op, c) }, sb, rb)
	} else {
		req, err = o.comm.start(o.name, func(c cComm) (cRequest, error) { return cIreduce(sb, rb, inPlace, op, root, c) }, sb, rb)
	}
	if err != nil {
		return o.wrap(err)
	}
	return o.wait(req)
}

// Gather collects send (a []float64, []int or []byte of the same length n on
// every rank) into recv on root, rank after rank: recv must hold size*n
// elements (or be a pointer to a slice, which is resized); it is ignored
// on the other ranks and may be nil there.
func (w *World) Gather(send, recv any, root int) error {
	return w.gather("Gather", send, recv, root, false)
}

// Allgather is Gather with the result on every rank.
func (w *World) Allgather(send, recv any) error {
	return w.gather("Allgather", send, recv, 0, true)
}

func (w *World) gather(name string, send, recv any, root int, all bool) error {
	o, err := w.begin(name)
	if err != nil {
		return err
	}
	defer o.end()
	s, r := classify(send), classify(recv)
	rank, size := o.comm.Rank(), o.comm.Size()
	wantRecv := all || rank == root
	local := o.checkRoot(root)
	if local == nil && s.kind != kSlice && s.kind != kSlicePtr {
		local = o.errorf("send must be a []float64, []int or []byte, got %s (use %sValue for other values)", typeName(send), name)
	}
	if local == nil && wantRecv {
		switch {
		case (r.kind != kSlice && r.kind != kSlicePtr) || r.t != s.t:
			local = o.errorf("recv must be a []%s (or a pointer to one) like send, got %s", s.t, typeName(recv))
		case r.kind == kSlice && r.len() != size*s.len():
			local = o.errorf("recv has %d elements, want %d (%d ranks × %d)", r.len(), size*s.len(), size, s.len())
		}
	}
	hs, err := o.exchangeRooted(header{hCode: s.code(), hN: s.len(), hRoot: root}, local)
	if err != nil {
		return err
	}
	if err := o.agree(hs, hN, "the send length (every rank must send as many elements)", itoa); err != nil {
		return err
	}
	n := s.len()
	rb := buffer{t: s.t}
	if wantRecv {
		if r.kind == kSlicePtr {
			r.resize(size * n)
		}
		rb = r.buf()
	}
	sb := s.buf()
	if n == 0 {
		return nil
	}
	var req *Request
	if all {
		req, err = o.comm.start(o.name, func(c cComm) (cRequest, error) { return cIallgather(sb, rb, n, c) }, sb, rb)
	} else {
		req, err = o.comm.start(o.name, func(c cComm) (cRequest, error) { return cIgather(sb, rb, n, root, c) }, sb, rb)
	}
	if err != nil {
		return o.wrap(err)
	}
	return o.wait(req)
}

// Scatter splits send on root (a []float64, []int or []byte of size*n
// elements) into n-element pieces, rank i receiving piece i in recv. recv
// must hold n elements on every rank, or be a pointer to a slice (resized).
// send is ignored on the other ranks and may be nil there.
func (w *World) Scatter(send, recv any, root int) error {
	o, err := w.begin("Scatter")
	if err != nil {
		return err
	}
	defer o.end()
	s, r := classify(send), classify(recv)
	rank, size := o.comm.Rank(), o.comm.Size()
	local := o.checkRoot(root)
	h := header{hCode: r.code(), hN: r.len(), hRoot: root}
	if r.kind == kSlicePtr {
		h[hN] = -1 // takes what the root sends
	}
	if local == nil && r.kind != kSlice && r.kind != kSlicePtr {
		local = o.errorf("recv must be a []float64, []int or []byte (or a pointer to one), got %s (use ScatterValue for other values)", typeName(recv))
	}
	if local == nil && rank == root {
		switch {
		case (s.kind != kSlice && s.kind != kSlicePtr) || s.t != r.t:
			local = o.errorf("send must be a []%s like recv, got %s", r.t, typeName(send))
		case s.len()%size != 0:
			local = o.errorf("send has %d elements, not a multiple of %d ranks", s.len(), size)
		case r.kind == kSlice && s.len() != size*r.len():
			local = o.errorf("send has %d elements, want %d (%d ranks × %d in recv)", s.len(), size*r.len(), size, r.len())
		}
		h[hM] = s.len()
	}
	hs, err := o.exchangeRooted(h, local)
	if err != nil {
		return err
	}
	n := hs[root][hM] / size
	lens := make([]int, size)
	mismatch := false
	for i := range hs {
		lens[i] = hs[i][hN]
		mismatch = mismatch || (lens[i] >= 0 && lens[i] != n)
	}
	if mismatch {
		return o.errorf("recv lengths must all be %d (root %d sends %d to %d ranks): %s", n, root, hs[root][hM], size, listRanks(lens))
	}
	if r.kind == kSlicePtr {
		r.resize(n)
	}
	sb := buffer{t: r.t}
	if rank == root {
		sb = s.buf()
	}
	rb := r.buf()
	if n == 0 {
		return nil
	}
	req, err := o.comm.start(o.name, func(c cComm) (cRequest, error) { return cIscatter(sb, rb, n, root, c) }, sb, rb)
	if err != nil {
		return o.wrap(err)
	}
	return o.wait(req)
}
