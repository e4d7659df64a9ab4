package engine

import (
	"reflect"
	"testing"

	"github.com/gompi-kernel/gompi-kernel/kernel/session"
)

// TestWireEvents: every kind of event comes back as it went, whether it
// travels in the plain binary form (a done report without data or error)
// or as JSON; a plain report is rejected where another type is expected or
// when cut short.
func TestWireEvents(t *testing.T) {
	cases := []struct {
		e     event
		plain bool
	}{
		{event{Kind: evDone, Seq: 1<<40 + 7, Rank: 63, Result: &doneReport{Seconds: 0.25, Events: 3}}, true},
		{event{Kind: evDone, Seq: 9, Rank: 2, Result: &doneReport{}}, true},
		{event{Kind: evDone, Seq: 9, Rank: 2, Result: &doneReport{Err: &session.Error{Name: "Panic", Value: "boom"}}}, false},
		{event{Kind: evDone, Seq: 9, Rank: 2, Result: &doneReport{Dirty: true, Where: "Barrier"}}, false},
		{event{Kind: evDone, Seq: 9, Rank: 2, Result: &doneReport{Data: map[string]any{"text/plain": "42"}}}, false},
		{event{Kind: evStream, Seq: 3, Rank: 1, Name: "stdout", Text: "hi\n"}, false},
	}
	for _, tc := range cases {
		b, err := encode(tc.e)
		if err != nil {
			t.Fatal(err)
		}
		if plain := b[0] == plainDoneMark; plain != tc.plain {
			t.Errorf("%+v: plain form %v, want %v", tc.e, plain, tc.plain)
		}
		got, err := decode[event](b)
		if err != nil {
			t.Fatalf("%+v: %v", tc.e, err)
		}
		if !reflect.DeepEqual(got, tc.e) {
			t.Errorf("round trip:\n got %+v %+v\nwant %+v %+v", got, got.Result, tc.e, tc.e.Result)
		}
	}
	b, _ := encode(cases[0].e)
	if _, err := decode[command](b); err == nil {
		t.Error("a plain done report decoded as a command")
	}
	if _, err := decode[event](b[:10]); err == nil {
		t.Error("a plain done report cut short decoded")
	}
}
