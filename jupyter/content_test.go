package jupyter

import (
	"encoding/json"
	"testing"
)

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestContentWireForm(t *testing.T) {
	out := "out"
	cases := []struct {
		name string
		v    any
		want string
	}{
		{"execute ok", ExecuteReply{Status: StatusOK, ExecutionCount: 3, EName: "ignored"},
			`{"status":"ok","execution_count":3,"payload":[],"user_expressions":{}}`},
		{"execute error", ExecuteReply{Status: StatusError, ExecutionCount: 4},
			`{"status":"error","execution_count":4,"payload":[],"user_expressions":{},"ename":"","evalue":"","traceback":[]}`},
		{"execute error filled", ExecuteReply{Status: StatusError, ExecutionCount: 4, EName: "panic", EValue: "boom", Traceback: []string{"a"}},
			`{"status":"error","execution_count":4,"payload":[],"user_expressions":{},"ename":"panic","evalue":"boom","traceback":["a"]}`},
		{"error reply", ErrorReply{EName: "E"}, `{"status":"error","ename":"E","evalue":"","traceback":[]}`},
		{"complete", CompleteReply{CursorStart: 1, CursorEnd: 2},
			`{"status":"ok","matches":[],"cursor_start":1,"cursor_end":2,"metadata":{}}`},
		{"is_complete incomplete", IsCompleteReply{Status: IsCompleteIncomplete}, `{"status":"incomplete","indent":""}`},
		{"is_complete complete", IsCompleteReply{Status: IsCompleteComplete, Indent: "  "}, `{"status":"complete"}`},
		{"history", HistoryReply{History: []HistoryEntry{{Session: 1, Line: 2, Input: "x"}, {Session: 1, Line: 3, Input: "y", Output: &out}}},
			`{"status":"ok","history":[[1,2,"x"],[1,3,["y","out"]]]}`},
		{"history empty", HistoryReply{}, `{"status":"ok","history":[]}`},
		{"comm_info", CommInfoReply{}, `{"status":"ok","comms":{}}`},
		{"inspect", InspectReply{Found: false}, `{"status":"ok","found":false,"data":{},"metadata":{}}`},
		{"display", DisplayData{Data: MIMEBundle{"text/plain": "1"}}, `{"data":{"text/plain":"1"},"metadata":{}}`},
		{"display with id", DisplayData{Transient: &Transient{DisplayID: "d"}}, `{"data":{},"metadata":{},"transient":{"display_id":"d"}}`},
		{"update display", UpdateDisplayData{Transient: Transient{DisplayID: "d"}}, `{"data":{},"metadata":{},"transient":{"display_id":"d"}}`},
		{"execute_result", ExecuteResult{ExecutionCount: 1}, `{"execution_count":1,"data":{},"metadata":{}}`},
		{"error", Error{EName: "E", EValue: "v"}, `{"ename":"E","evalue":"v","traceback":[]}`},
		{"status", Status{ExecutionState: StateBusy}, `{"execution_state":"busy"}`},
		{"stream", Stream{Name: StreamStderr, Text: "x"}, `{"name":"stderr","text":"x"}`},
		{"shutdown", ShutdownReply{Status: StatusOK, Restart: true}, `{"status":"ok","restart":true}`},
		{"input_request", InputRequest{Prompt: "? "}, `{"prompt":"? ","password":false}`},
		{"clear_output", ClearOutput{Wait: true}, `{"wait":true}`},
	}
	for _, c := range cases {
		if got := jsonOf(t, c.v); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
}

func TestKernelInfoReplyDefaults(t *testing.T) {
	var m map[string]any
	if err := json.Unmarshal([]byte(jsonOf(t, KernelInfoReply{LanguageInfo: LanguageInfo{Name: "go"}})), &m); err != nil {
		t.Fatal(err)
	}
	if m["status"] != "ok" || m["protocol_version"] != ProtocolVersion {
		t.Errorf("status/protocol_version defaults missing: %v", m)
	}
	if hl, ok := m["help_links"].([]any); !ok || len(hl) != 0 {
		t.Errorf("help_links = %#v, want []", m["help_links"])
	}
	for _, k := range []string{"implementation", "implementation_version", "banner", "language_info"} {
		if _, ok := m[k]; !ok {
			t.Errorf("kernel_info_reply lacks %q", k)
		}
	}
}

func TestExecuteRequestDefaults(t *testing.T) {
	var r ExecuteRequest
	if err := json.Unmarshal([]byte(`{"code":"1"}`), &r); err != nil {
		t.Fatal(err)
	}
	if !r.StoreHistory || !r.AllowStdin || r.Silent {
		t.Errorf("defaults: %+v", r)
	}
	if err := json.Unmarshal([]byte(`{"code":"1","silent":true,"store_history":true,"allow_stdin":false}`), &r); err != nil {
		t.Fatal(err)
	}
	if r.StoreHistory || r.AllowStdin {
		t.Errorf("silent must disable store_history; allow_stdin false kept: %+v", r)
	}
}

func TestHistoryEntryRoundTrip(t *testing.T) {
	var r HistoryReply
	if err := json.Unmarshal([]byte(`{"status":"ok","history":[[0,1,"a"],[2,3,["b","c"]]]}`), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.History) != 2 || r.History[0].Input != "a" || r.History[1].Output == nil || *r.History[1].Output != "c" {
		t.Errorf("decoded %+v", r.History)
	}
	if err := json.Unmarshal([]byte(`{"history":[[1,2]]}`), &r); err == nil {
		t.Error("short history entry accepted")
	}
}
