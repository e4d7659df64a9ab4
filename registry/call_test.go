package registry

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestCallPanicText checks that a panic in a called function reads as Go
// prints it, also when the value comes wrapped in a reflect.Value, as
// yaegi's panics do ("<error Value>" before).
func TestCallPanicText(t *testing.T) {
	for _, v := range []any{errors.New("bad thing"), reflect.ValueOf(errors.New("bad thing"))} {
		f := reflect.ValueOf(func() { panic(v) })
		_, err := call("FunctionCall: f", f, nil, nil, false)
		if err == nil || err.Error() != "FunctionCall: f: panic: bad thing" {
			t.Errorf("panic(%T): err = %v", v, err)
		}
	}
	_, err := callDescribed("f", reflect.ValueOf(func() { panic(42) }), nil, nil, false, func(any) string { return "described" })
	if err == nil || !strings.HasSuffix(err.Error(), "panic: described") {
		t.Errorf("err = %v", err)
	}
}
