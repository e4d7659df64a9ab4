package registry

import (
	"bytes"
	"encoding/gob"
	"fmt"
)

// Call's arguments travel from rank 0 to the workers gob-encoded. gob sends
// the concrete type of a value held in an interface by a registered name,
// so the types arguments may have are registered here once: basic values,
// slices and maps of them, ObjectID. gob already knows the basic types and
// their slices; registration at init is the only package-level state.
func init() {
	gob.Register(ObjectID(0))
	gob.Register([]ObjectID(nil))
	gob.Register([]any(nil))
	gob.Register(map[string]any(nil))
	gob.Register(map[string]string(nil))
	gob.Register(map[string]int(nil))
	gob.Register(map[string]float64(nil))
	gob.Register([][]float64(nil))
	gob.Register([][]int(nil))
}

// EncodeArgs encodes Call's arguments for the other ranks. A value of a
// type that cannot travel (a struct declared in a cell, a channel, a
// function, …) is an error that names the argument and the way around it:
// manage the object on every rank and pass its ObjectID.
func EncodeArgs(args []any) ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(args); err == nil {
		return buf.Bytes(), nil
	}
	for i, a := range args {
		if err := gob.NewEncoder(new(bytes.Buffer)).Encode([]any{a}); err != nil {
			return nil, fmt.Errorf("registry: argument %d (%T) cannot be sent to the other ranks: %w; "+
				"only basic values, slices and maps of them and ObjectIDs travel: build the object on every rank "+
				"(e.g. with FunctionCallManage) and pass its ObjectID", i+1, a, err)
		}
	}
	// Each argument alone encodes: the whole must fail for another reason.
	err := gob.NewEncoder(new(bytes.Buffer)).Encode(args)
	return nil, fmt.Errorf("registry: encoding arguments: %w", err)
}

// DecodeArgs decodes what EncodeArgs produced.
func DecodeArgs(b []byte) ([]any, error) {
	var args []any
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&args); err != nil {
		return nil, fmt.Errorf("registry: decoding arguments: %w", err)
	}
	return args, nil
}
