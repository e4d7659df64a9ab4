package mpi

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"reflect"
	"unsafe"
)

// kind says how a call's data argument travels.
type kind int

const (
	kNone     kind = iota // nil: allowed only where the argument is ignored
	kSlice                // []float64, []int, []byte: raw, in place
	kSlicePtr             // *[]float64, …: raw, resized on receipt
	kGob                  // any other value or pointer: gob-encoded
)

// arg is a classified data argument.
type arg struct {
	kind kind
	t    elemType      // kSlice, kSlicePtr
	v    reflect.Value // the slice (kSlice), the pointer (kSlicePtr, kGob), the value (kGob)
}

// typeCode identifies the data's representation in headers: 0 none,
// 1+elemType for raw slices, gobCode for gob.
func (a arg) code() int {
	switch a.kind {
	case kSlice, kSlicePtr:
		return 1 + int(a.t)
	case kGob:
		return gobCode
	}
	return 0
}

const gobCode = 100

func codeName(c int) string {
	switch {
	case c == 0:
		return "nil"
	case c == gobCode:
		return "a gob value"
	case c >= 1 && c <= 3:
		return "[]" + elemType(c-1).String()
	}
	return fmt.Sprintf("type code %d", c)
}

func elemOf(k reflect.Kind) (elemType, bool) {
	switch k {
	case reflect.Float64:
		return tFloat64, true
	case reflect.Int:
		return tInt, true
	case reflect.Uint8:
		return tByte, true
	}
	return 0, false
}

// classify looks at a data argument. Slices of float64, int and byte (also
// named ones, e.g. a cell's "type Vec []float64") travel raw; a pointer to
// such a slice travels raw and is resized on receipt; any other non-nil
// value travels gob-encoded.
func classify(x any) arg {
	if x == nil {
		return arg{kind: kNone}
	}
	v := reflect.ValueOf(x)
	switch v.Kind() {
	case reflect.Slice:
		if t, ok := elemOf(v.Type().Elem().Kind()); ok {
			return arg{kind: kSlice, t: t, v: v}
		}
	case reflect.Pointer:
		if v.IsNil() {
			return arg{kind: kNone}
		}
		e := v.Elem()
		if e.Kind() == reflect.Slice {
			if t, ok := elemOf(e.Type().Elem().Kind()); ok {
				return arg{kind: kSlicePtr, t: t, v: v}
			}
		}
	}
	return arg{kind: kGob, v: v}
}

// slice returns the raw slice of a kSlice or kSlicePtr argument.
func (a arg) slice() reflect.Value {
	if a.kind == kSlicePtr {
		return a.v.Elem()
	}
	return a.v
}

// len is the element count of a raw argument.
func (a arg) len() int {
	if a.kind == kSlice || a.kind == kSlicePtr {
		return a.slice().Len()
	}
	return 0
}

// buf is the MPI view of a raw argument.
func (a arg) buf() buffer {
	s := a.slice()
	if s.Len() == 0 {
		return buffer{t: a.t}
	}
	return buffer{p: s.UnsafePointer(), n: s.Len(), t: a.t}
}

// resize makes a kSlicePtr argument's slice n elements long, reusing its
// array when it is large enough.
func (a arg) resize(n int) {
	s := a.v.Elem()
	if s.Cap() >= n {
		s.SetLen(n)
		return
	}
	s.Set(reflect.MakeSlice(s.Type(), n, n))
}

// sameArray reports whether a and b are the same raw slice (for MPI_IN_PLACE).
func sameArray(a, b arg) bool {
	if (a.kind != kSlice && a.kind != kSlicePtr) || (b.kind != kSlice && b.kind != kSlicePtr) {
		return false
	}
	sa, sb := a.slice(), b.slice()
	return sa.Len() > 0 && sb.Len() > 0 && sa.UnsafePointer() == sb.UnsafePointer()
}

// typeName describes a value's type for error messages.
func typeName(x any) string {
	if x == nil {
		return "nil"
	}
	return reflect.TypeOf(x).String()
}

func encode(x any) ([]byte, error) {
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(x); err != nil {
		return nil, fmt.Errorf("gob-encode %T: %w", x, err)
	}
	return b.Bytes(), nil
}

func decode(b []byte, ptr reflect.Value) error {
	if err := gob.NewDecoder(bytes.NewReader(b)).DecodeValue(ptr); err != nil {
		return fmt.Errorf("gob-decode into %s: %w", ptr.Type(), err)
	}
	return nil
}

// sliceBytes views a raw argument's elements as bytes (for the envelope
// of small point-to-point messages).
func sliceBytes(b buffer) []byte {
	if b.p == nil {
		return nil
	}
	return unsafe.Slice((*byte)(b.p), b.n*b.t.size())
}

// ptrOf is the address of an []int's first element (nil when empty).
func ptrOf(s []int) unsafe.Pointer {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Pointer(&s[0])
}
