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

// TestWireCommands: commands come back as they went, a cell for every rank
// in the plain form, the rest as JSON; a plain command cut short or with a
// label longer than itself is rejected.
func TestWireCommands(t *testing.T) {
	cases := []struct {
		c     command
		plain bool
	}{
		{command{Kind: cmdExecute, Seq: 5, Code: "x := 1\nfmt.Println(\"é\")", Label: "cell 5"}, true},
		{command{Kind: cmdExecute, Seq: 6, Code: "", Fan: 4}, true},
		{command{Kind: cmdExecute, Seq: 7, Code: "x", Ranks: []int{0, 2}}, false},
		{command{Kind: cmdCall, Seq: 7, Call: 2, Fn: "f", Args: []byte{1, 2}}, false},
		{command{Kind: cmdQuit, Seq: 8}, false},
	}
	for _, tc := range cases {
		b, err := encode(tc.c)
		if err != nil {
			t.Fatal(err)
		}
		if plain := b[0] == plainExecuteMark; plain != tc.plain {
			t.Errorf("%+v: plain form %v, want %v", tc.c, plain, tc.plain)
		}
		got, err := decode[command](b)
		if err != nil {
			t.Fatalf("%+v: %v", tc.c, err)
		}
		if !reflect.DeepEqual(got, tc.c) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, tc.c)
		}
	}
	b, _ := encode(cases[0].c)
	if _, err := decode[event](b); err == nil {
		t.Error("a plain command decoded as an event")
	}
	if _, err := decode[command](b[:5]); err == nil {
		t.Error("a plain command cut short decoded")
	}
	if _, err := decode[command](b[:plainExecuteHead+2]); err == nil {
		t.Error("a plain command whose label is longer than itself decoded")
	}
}
