package tests

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gompi-kernel/gompi-kernel/jupyter"
)

// TestGoClient drives a real 4-rank kernel with jupyter.Client, the base of
// a Go console: a cell's output from every rank, its reply, an input
// request answered, interrupt on control, heartbeat, shutdown.
func TestGoClient(t *testing.T) {
	k := startKernel(t, 4)
	info, err := jupyter.ReadConnectionFile(k.connFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := jupyter.Dial(info, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}

	// run executes code and returns its stdout, its reply's status and the
	// prompts it answered with answer.
	run := func(code, answer string) (stdout, status string, prompts []string) {
		t.Helper()
		req, err := c.Send(jupyter.Shell, jupyter.MsgExecuteRequest,
			jupyter.ExecuteRequest{Code: code, AllowStdin: answer != ""})
		if err != nil {
			t.Fatal(err)
		}
		// Input requests arrive on stdin while output arrives on iopub.
		inputs := make(chan string, 4)
		stdinCtx, stopStdin := context.WithCancel(ctx)
		stdinDone := make(chan struct{})
		if answer == "" {
			close(stdinDone)
		} else {
			go func() {
				defer close(stdinDone)
				ir, err := c.Recv(stdinCtx, jupyter.Stdin)
				if err != nil {
					return
				}
				var r jupyter.InputRequest
				json.Unmarshal(ir.Content, &r)
				inputs <- r.Prompt
				c.AnswerInput(ir, answer)
			}()
		}
		var out strings.Builder
		for idle := false; !idle; {
			m, err := c.Recv(ctx, jupyter.IOPub)
			if err != nil {
				t.Fatalf("iopub: %v", err)
			}
			if m.ParentHeader.MsgID != req.Header.MsgID {
				continue
			}
			switch m.Header.MsgType {
			case jupyter.MsgStream:
				var s jupyter.Stream
				json.Unmarshal(m.Content, &s)
				out.WriteString(s.Text)
			case jupyter.MsgStatus:
				var s jupyter.Status
				json.Unmarshal(m.Content, &s)
				idle = s.ExecutionState == jupyter.StateIdle
			}
		}
		rep, err := c.Recv(ctx, jupyter.Shell)
		if err != nil || rep.ParentHeader.MsgID != req.Header.MsgID {
			t.Fatalf("execute_reply: %+v %v", rep, err)
		}
		var r jupyter.ExecuteReply
		json.Unmarshal(rep.Content, &r)
		stopStdin()
		<-stdinDone
		close(inputs)
		for p := range inputs {
			prompts = append(prompts, p)
		}
		return out.String(), r.Status, prompts
	}

	out, status, _ := run(`fmt.Println("hello from", mpi.Rank())`, "")
	for _, want := range []string{"[0] hello from 0", "[1] hello from 1", "[2] hello from 2", "[3] hello from 3"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if status != "ok" {
		t.Errorf("status %q", status)
	}
	out, _, prompts := run(`var name string
if mpi.Rank() == 0 {
	fmt.Print("Your name: ")
	fmt.Scanln(&name)
	fmt.Println("hello,", name)
}`, "Gopher")
	if !strings.Contains(out, "[0] hello, Gopher") || len(prompts) != 1 {
		t.Errorf("input: prompts %q, output:\n%s", prompts, out)
	}

	rep, err := c.Request(ctx, jupyter.Control, jupyter.MsgInterruptRequest, nil)
	if err != nil || rep.Header.MsgType != jupyter.MsgInterruptReply {
		t.Errorf("interrupt on control: %+v %v", rep, err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Errorf("heartbeat: %v", err)
	}
	rep, err = c.Request(ctx, jupyter.Control, jupyter.MsgShutdownRequest, jupyter.ShutdownRequest{})
	if err != nil || rep.Header.MsgType != jupyter.MsgShutdownReply {
		t.Errorf("shutdown: %+v %v", rep, err)
	}
	if err := k.wait(30 * time.Second); err != nil {
		t.Errorf("kernel after shutdown: %v\nstderr:\n%s", err, k.stderr)
	}
}
