package mpi

import (
	"reflect"
)

// The value collectives move any gob-encodable value (structs, maps,
// strings, slices of anything). Raw numeric slices should use Gather,
// Allgather and Scatter instead: no encoding, no copies.

// GatherValue gob-encodes v on every rank and collects the values on root:
// out must be a pointer to a slice (e.g. *[]Point for a Point v); it is set
// to Size() elements, element i coming from rank i. out is ignored on the
// other ranks and may be nil there. Interface-typed elements need
// gob.Register of the concrete types, as with gob anywhere.
func (w *World) GatherValue(v any, out any, root int) error {
	return w.gatherValue("GatherValue", v, out, root, false)
}

// AllgatherValue is GatherValue with the result on every rank.
func (w *World) AllgatherValue(v any, out any) error {
	return w.gatherValue("AllgatherValue", v, out, 0, true)
}

// outSlice checks that out is a non-nil pointer to a slice.
func (o *op) outSlice(out any) (reflect.Value, error) {
	v := reflect.ValueOf(out)
	if out == nil || v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Slice {
		return reflect.Value{}, o.errorf("out must be a non-nil pointer to a slice, got %s", typeName(out))
	}
	return v, nil
}

func pad(b []byte, n int) []byte {
	out := make([]byte, n)
	copy(out, b)
	return out
}

func (w *World) gatherValue(name string, v, out any, root int, all bool) error {
	o, err := w.begin(name)
	if err != nil {
		return err
	}
	defer o.end()
	rank, size := o.comm.Rank(), o.comm.Size()
	wantRecv := all || rank == root
	local := o.checkRoot(root)
	var outV reflect.Value
	var enc []byte
	if local == nil && v == nil {
		local = o.errorf("value is nil")
	}
	if local == nil && wantRecv {
		outV, local = o.outSlice(out)
	}
	if local == nil {
		if enc, err = encode(v); err != nil {
			local = o.wrap(err)
		}
	}
	hs, err := o.exchange(header{hCode: gobCode, hN: len(enc), hRoot: root}, local)
	if err != nil {
		return err
	}
	if err := o.agree(hs, hRoot, "root", itoa); err != nil {
		return err
	}
	m := 0
	for _, h := range hs {
		m = max(m, h[hN])
	}
	sb := bytesBuffer(pad(enc, m))
	var recv []byte
	if wantRecv {
		recv = make([]byte, size*m)
	}
	rb := bytesBuffer(recv)
	var req *Request
	if all {
		req, err = o.comm.start(o.name, func(c cComm) (cRequest, error) { return cIallgather(sb, rb, m, c) }, sb, rb)
	} else {
		req, err = o.comm.start(o.name, func(c cComm) (cRequest, error) { return cIgather(sb, rb, m, root, c) }, sb, rb)
	}
	if err != nil {
		return o.wrap(err)
	}
	if err := o.wait(req); err != nil {
		return err
	}
	if !wantRecv {
		return nil
	}
	s := reflect.MakeSlice(outV.Elem().Type(), size, size)
	for i := 0; i < size; i++ {
		if err := decode(recv[i*m:(i+1)*m], s.Index(i).Addr()); err != nil {
			return o.errorf("value from rank %d: %w", i, err)
		}
	}
	outV.Elem().Set(s)
	return nil
}

// ScatterValue sends element i of in (a slice or array of Size() values of
// any gob-encodable type, on root) to rank i, which decodes it into out, a
// non-nil pointer. in is ignored on the other ranks and may be nil there.
func (w *World) ScatterValue(in any, out any, root int) error {
	o, err := w.begin("ScatterValue")
	if err != nil {
		return err
	}
	defer o.end()
	rank, size := o.comm.Rank(), o.comm.Size()
	local := o.checkRoot(root)
	outV := reflect.ValueOf(out)
	if local == nil && (out == nil || outV.Kind() != reflect.Pointer || outV.IsNil()) {
		local = o.errorf("out must be a non-nil pointer, got %s", typeName(out))
	}
	var parts [][]byte
	m := 0
	if local == nil && rank == root {
		inV := reflect.ValueOf(in)
		if in == nil || (inV.Kind() != reflect.Slice && inV.Kind() != reflect.Array) || inV.Len() != size {
			local = o.errorf("in must be a slice of %d values (one per rank), got %s", size, describeLen(in))
		} else {
			for i := 0; i < size && local == nil; i++ {
				b, err := encode(inV.Index(i).Interface())
				if err != nil {
					local = o.errorf("element %d: %w", i, err)
				}
				parts = append(parts, b)
				m = max(m, len(b))
			}
		}
	}
	hs, err := o.exchange(header{hCode: gobCode, hN: m, hRoot: root}, local)
	if err != nil {
		return err
	}
	if err := o.agree(hs, hRoot, "root", itoa); err != nil {
		return err
	}
	m = hs[root][hN]
	var send []byte
	if rank == root {
		send = make([]byte, 0, size*m)
		for _, p := range parts {
			send = append(send, pad(p, m)...)
		}
	}
	recv := make([]byte, m)
	sb, rb := bytesBuffer(send), bytesBuffer(recv)
	req, err := o.comm.start(o.name, func(c cComm) (cRequest, error) { return cIscatter(sb, rb, m, root, c) }, sb, rb)
	if err != nil {
		return o.wrap(err)
	}
	if err := o.wait(req); err != nil {
		return err
	}
	return o.wrap(decode(recv, outV))
}

func describeLen(x any) string {
	v := reflect.ValueOf(x)
	if x != nil && (v.Kind() == reflect.Slice || v.Kind() == reflect.Array) {
		return typeName(x) + " of length " + itoa(v.Len())
	}
	return typeName(x)
}
