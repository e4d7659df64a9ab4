package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gompi-kernel/gompi-kernel/jupyter"
)

// Options configure a console.
type Options struct {
	// Existing is the connection file of a running kernel to attach to
	// (a bare file name is looked up in the Jupyter runtime directory).
	// Empty: the console starts its own kernel.
	Existing string
	// Ranks is the number of MPI ranks of a kernel the console starts
	// (1 runs it without mpirun).
	Ranks int
	// Executable is the gompi-kernel binary to start; default: this
	// program.
	Executable string
	// MPIRun is the mpirun to call; default: found on PATH.
	MPIRun string
	// In and Out are the terminal.
	In  *os.File
	Out io.Writer
	// Log receives the console's own diagnostics (nil: discarded).
	Log *slog.Logger
}

// Prompts, as IPython's.
const (
	promptIn   = "In [%d]: "
	promptMore = "   ...: "
	promptOut  = "Out[%d]: "
)

// Run runs the console until the user quits or ctx ends. A kernel it
// started is shut down on the way out; one it attached to keeps running.
func Run(ctx context.Context, o Options) error {
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.In == nil {
		o.In = os.Stdin
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	var k *kernelProcess
	var info jupyter.ConnectionInfo
	var err error
	asked := false // a shutdown_request went to a kernel the console started
	if o.Existing != "" {
		if info, err = readExisting(o.Existing); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(o.Out, "Starting gompi-kernel on %d rank(s)…\n", o.Ranks)
		if k, err = startKernel(ctx, o); err != nil {
			return err
		}
		defer func() { k.stop(asked) }()
		info = k.info
	}
	t, err := Dial(info)
	if err != nil {
		return err
	}
	client, err := NewClient(t, info, o.Log)
	if err != nil {
		_ = t.Close()
		return err
	}
	defer client.Close()
	c := &console{client: client, kernel: k, log: o.Log, idle: map[string]chan struct{}{}}
	var died <-chan struct{}
	if k != nil {
		died = k.done
	}
	banner, err := c.waitReady(ctx, died)
	if err != nil {
		if k != nil {
			return fmt.Errorf("%w\n%s", err, k.logTail())
		}
		return err
	}
	c.count = c.nextCount(ctx)
	c.ranks = bannerRanks(banner)
	ed, err := newEditor(o.In, o.Out)
	if err != nil {
		return err
	}
	defer ed.Close()
	c.ed = ed
	ed.SetCompleter(c.complete)
	// SIGTERM or SIGHUP (ctx) while the console waits at the prompt: end
	// the line being read, so that the loop sees ctx and quits.
	stopAbort := context.AfterFunc(ctx, ed.Abort)
	defer stopAbort()
	go c.iopub()
	fmt.Fprintf(ed, "%s\nCtrl-C interrupts a running cell (on every rank), Ctrl-D quits.\n\n", strings.TrimSpace(banner))
	err = c.loop(ctx, died)
	if k != nil {
		fmt.Fprintln(ed, "Shutting down the kernel…")
		c.shutdown()
		asked = true
	}
	return err
}

// console is one session at the terminal.
type console struct {
	client *Client
	kernel *kernelProcess
	ed     editor
	log    *slog.Logger
	count  int // the next execution count
	ranks  int // the kernel's ranks, from its banner (0: unknown)

	mu      sync.Mutex
	idle    map[string]chan struct{} // request msg_id -> closed at its idle status
	current string                   // msg_id of the running execute_request
	lines   []string                 // lines of the cell being typed, for completion
}

// waitReady asks for kernel_info until the kernel answers (it may still be
// starting) and what it publishes about the request reaches the console
// too, and returns its banner. A SUB socket receives only once its
// subscription has reached the kernel, some time after connecting: output
// published before that is lost, and a first cell whose idle status was
// lost would never give the prompt back (TestGoConsole hung so, now and
// then). jupyter_client's wait_for_ready waits for iopub the same way.
func (c *console) waitReady(ctx context.Context, died <-chan struct{}) (string, error) {
	deadline := time.Now().Add(120 * time.Second)
	for {
		var reply struct {
			Banner string `json:"banner"`
		}
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		m, err := c.client.Request(rctx, jupyter.Shell, jupyter.MsgKernelInfoRequest, struct{}{}, &reply)
		cancel()
		if err == nil {
			if c.heardOnIOPub(ctx, m.ParentHeader.MsgID, time.Second) {
				return reply.Banner, nil
			}
			err = errors.New("nothing on iopub yet")
		}
		select {
		case <-died:
			return "", errors.New("console: the kernel exited while starting")
		case <-ctx.Done():
			return "", fmt.Errorf("console: %w", ctx.Err())
		default:
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("console: the kernel did not answer kernel_info in 120 s: %w", err)
		}
	}
}

// heardOnIOPub waits up to d for an iopub message whose parent is the
// request msgID (the kernel's busy or idle status for it), dropping what
// comes before it; the iopub goroutine has not started yet.
func (c *console) heardOnIOPub(ctx context.Context, msgID string, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-c.client.IOPub:
			if !ok {
				return false
			}
			if m.ParentHeader.MsgID == msgID {
				return true
			}
		case <-timer.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// nextCount is the execution count of the next cell: 1 for a new kernel,
// more for one attached to. A silent execution does not count, and its
// reply says where the kernel is.
func (c *console) nextCount(ctx context.Context) int {
	var r jupyter.ExecuteReply
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.client.Request(rctx, jupyter.Shell, jupyter.MsgExecuteRequest,
		jupyter.ExecuteRequest{Code: "", Silent: true}, &r); err != nil {
		return 1
	}
	return r.ExecutionCount + 1
}

// loop reads cells and runs them.
func (c *console) loop(ctx context.Context, died <-chan struct{}) error {
	for {
		code, err := c.readCell(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("console: %w", ctx.Err())
		}
		switch {
		case errors.Is(err, io.EOF):
			if c.confirmQuit() {
				return nil
			}
			continue
		case errors.Is(err, errInterrupted):
			continue
		case err != nil:
			return err
		}
		switch {
		case strings.TrimSpace(code) == "":
			continue
		case isExit(code):
			return nil
		}
		if err := c.execute(ctx, code, died); err != nil {
			return err
		}
	}
}

// readCell reads lines until the kernel says the code is complete
// (is_complete_request), as IPython's console does.
func (c *console) readCell(ctx context.Context) (string, error) {
	c.setLines(nil)
	var lines []string
	prompt := fmt.Sprintf(promptIn, c.count)
	for {
		line, err := c.ed.ReadLine(prompt)
		if err != nil {
			if errors.Is(err, io.EOF) && len(lines) > 0 {
				return "", errInterrupted // Ctrl-D inside a cell drops it
			}
			return "", err
		}
		lines = append(lines, line)
		c.setLines(lines)
		code := strings.Join(lines, "\n")
		if strings.TrimSpace(code) == "" {
			return "", nil
		}
		if len(lines) > 1 && strings.TrimSpace(line) == "" {
			return code, nil // an empty line ends a block, as in IPython
		}
		if len(lines) == 1 && isExit(line) {
			return line, nil
		}
		body := code
		if strings.HasPrefix(strings.TrimSpace(lines[0]), "%%") {
			// A cell magic (%%rank0) goes on with its body, as in
			// IPython; the body is Go the kernel can judge.
			if len(lines) == 1 {
				prompt = promptMore
				continue
			}
			body = strings.Join(lines[1:], "\n")
		}
		var reply jupyter.IsCompleteReply
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = c.client.Request(rctx, jupyter.Shell, jupyter.MsgIsCompleteRequest, jupyter.IsCompleteRequest{Code: body}, &reply)
		cancel()
		if err != nil || reply.Status != jupyter.IsCompleteIncomplete {
			return code, nil // complete, invalid, or no answer: run it
		}
		prompt = promptMore
	}
}

// bannerRanks reads the number of ranks from gompi-kernel's banner ("… on
// 4 MPI rank(s) …"); 0 when it says none.
func bannerRanks(banner string) int {
	i := strings.Index(banner, " MPI rank")
	if i < 0 {
		return 0
	}
	f := strings.Fields(banner[:i])
	if len(f) == 0 {
		return 0
	}
	n, err := strconv.Atoi(f[len(f)-1])
	if err != nil {
		return 0
	}
	return n
}

// isExit tells IPython's words for leaving.
func isExit(code string) bool {
	switch strings.TrimSpace(code) {
	case "exit", "quit", "exit()", "quit()":
		return true
	}
	return false
}

func (c *console) setLines(l []string) {
	c.mu.Lock()
	c.lines = l
	c.mu.Unlock()
}

// confirmQuit asks, as jupyter console does, after Ctrl-D.
func (c *console) confirmQuit() bool {
	answer, err := c.ed.ReadLine("Do you really want to exit ([y]/n)? ")
	if err != nil {
		return errors.Is(err, io.EOF)
	}
	a := strings.ToLower(strings.TrimSpace(answer))
	return a == "" || a == "y" || a == "yes"
}

// execute runs one cell: outputs are shown by the iopub goroutine; this
// waits for the reply and the idle status, answers input requests, and
// turns Ctrl-C into an interrupt_request.
func (c *console) execute(ctx context.Context, code string, died <-chan struct{}) error {
	idle := make(chan struct{})
	m, err := c.client.NewMessage(jupyter.MsgExecuteRequest, jupyter.ExecuteRequest{
		Code: code, StoreHistory: true, AllowStdin: true, StopOnError: true,
	}, nil)
	if err != nil {
		return err
	}
	// Wait for the idle status before sending: a quick cell's idle can
	// reach the iopub goroutine before Send returns, and an idle nobody
	// waits for is dropped (the prompt would never come back).
	c.mu.Lock()
	c.idle[m.Header.MsgID] = idle
	c.current = m.Header.MsgID
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.idle, m.Header.MsgID)
		c.current = ""
		c.mu.Unlock()
	}()
	reply, err := c.client.SendMessage(jupyter.Shell, m)
	if err != nil {
		return err
	}
	// Ctrl-C interrupts. A third Ctrl-C stops waiting for the cell: for a
	// kernel that died or cannot stop a compiled call, the prompt comes
	// back (a next cell waits for this one in the kernel).
	giveUp := make(chan struct{})
	var presses int
	var pmu sync.Mutex
	interrupt := func() {
		pmu.Lock()
		presses++
		n := presses
		pmu.Unlock()
		if n >= 3 {
			select {
			case <-giveUp:
			default:
				close(giveUp)
			}
			return
		}
		c.interrupt()
	}
	c.ed.Running(interrupt)
	defer c.ed.Running(nil)
	gotReply := false
	for !gotReply || idle != nil {
		select {
		case <-giveUp:
			fmt.Fprintln(c.ed, "\nNo longer waiting for the cell (Ctrl-C three times); it may still be running in the kernel.")
			return nil
		case m := <-reply:
			gotReply, reply = true, nil
			var r struct {
				Status         string           `json:"status"`
				ExecutionCount int              `json:"execution_count"`
				Payload        []map[string]any `json:"payload"`
			}
			if err := json.Unmarshal(m.Content, &r); err == nil && r.ExecutionCount > 0 {
				c.count = r.ExecutionCount + 1
			}
			if r.Status == "aborted" {
				fmt.Fprintln(c.ed, "(not run: an earlier cell failed)")
			}
			for _, p := range r.Payload {
				// "name?" answers with a page (IPython's pager); "exit"
				// with ask_exit, which loop handles before sending.
				if data, ok := p["data"].(map[string]any); ok && p["source"] == "page" {
					fmt.Fprintln(c.ed, bundleText(data))
				}
			}
		case <-idle:
			idle = nil
		case m, ok := <-c.client.Stdin:
			if !ok {
				return errClosed
			}
			c.answerInput(m, interrupt)
		case <-died:
			return errors.New("console: the kernel exited")
		case <-c.client.Done():
			return errClosed
		case <-ctx.Done():
			return fmt.Errorf("console: %w", ctx.Err())
		}
	}
	return nil
}

// interrupt asks the kernel to stop the running cell on every rank.
func (c *console) interrupt() {
	if _, _, err := c.client.Send(jupyter.Control, jupyter.MsgInterruptRequest, struct{}{}, nil); err != nil {
		fmt.Fprintf(c.ed, "\ninterrupt failed: %v\n", err)
	}
}

// answerInput answers an input_request (fmt.Scan in a cell on rank 0).
func (c *console) answerInput(m *jupyter.Message, interrupt func()) {
	var req jupyter.InputRequest
	if err := json.Unmarshal(m.Content, &req); err != nil {
		return
	}
	c.ed.Running(nil)
	value, err := c.ed.ReadInput(req.Prompt, req.Password)
	c.ed.Running(interrupt)
	if errors.Is(err, errInterrupted) {
		interrupt()
	}
	parent := m.Header
	if _, _, err := c.client.Send(jupyter.Stdin, jupyter.MsgInputReply, jupyter.InputReply{Value: value}, &parent); err != nil {
		fmt.Fprintf(c.ed, "input reply failed: %v\n", err)
	}
}

// iopub shows what the kernel publishes for this console's requests, and
// tells execute when a request's idle status came (after all its output).
func (c *console) iopub() {
	for m := range c.client.IOPub {
		if m.ParentHeader.Session != c.client.Session() {
			continue // another frontend's
		}
		if m.Header.MsgType == jupyter.MsgStatus {
			var st jupyter.Status
			if json.Unmarshal(m.Content, &st) == nil && st.ExecutionState == "idle" {
				c.mu.Lock()
				if ch, ok := c.idle[m.ParentHeader.MsgID]; ok {
					close(ch)
					delete(c.idle, m.ParentHeader.MsgID)
				}
				c.mu.Unlock()
			}
			continue
		}
		if m.Header.MsgType == jupyter.MsgStream && m.Metadata["attribution"] == true {
			continue // the line naming a rich output's rank: attribute labels it inline
		}
		if text := render(m); text != "" {
			text = c.attribute(m, text)
			_, _ = io.WriteString(c.ed, text)
		}
	}
}

// attribute labels a rich output with its rank, "[2] <image/png …>", as
// stream lines are labelled, when the kernel has more than one rank (the
// kernel puts the rank in the display's metadata).
func (c *console) attribute(m *jupyter.Message, text string) string {
	if m.Header.MsgType != jupyter.MsgDisplayData || c.ranks == 1 {
		return text
	}
	r, ok := m.Metadata["rank"].(float64)
	if !ok {
		var d jupyter.DisplayData
		if json.Unmarshal(m.Content, &d) != nil {
			return text
		}
		if r, ok = d.Metadata["rank"].(float64); !ok {
			return text
		}
	}
	return fmt.Sprintf("[%d] %s", int(r), text)
}

// render is the terminal text of an output message ("" for none).
func render(m *jupyter.Message) string {
	switch m.Header.MsgType {
	case jupyter.MsgStream:
		var s jupyter.Stream
		if json.Unmarshal(m.Content, &s) != nil {
			return ""
		}
		return s.Text
	case jupyter.MsgExecuteResult:
		var r jupyter.ExecuteResult
		if json.Unmarshal(m.Content, &r) != nil {
			return ""
		}
		text := bundleText(r.Data)
		if strings.Contains(text, "\n") {
			text = "\n" + text
		}
		return fmt.Sprintf(promptOut, r.ExecutionCount) + text + "\n"
	case jupyter.MsgDisplayData:
		var d jupyter.DisplayData
		if json.Unmarshal(m.Content, &d) != nil {
			return ""
		}
		return bundleText(d.Data) + "\n"
	case jupyter.MsgError:
		var e jupyter.Error
		if json.Unmarshal(m.Content, &e) != nil {
			return ""
		}
		if len(e.Traceback) == 0 {
			return fmt.Sprintf("\x1b[0;31m%s\x1b[0m: %s\n", e.EName, e.EValue)
		}
		return strings.Join(e.Traceback, "\n") + "\n"
	}
	// update_display_data (a progress bar redrawn in place) would flood a
	// terminal; clear_output, execute_input and comms show nothing.
	return ""
}

// bundleText is a MIME bundle as text: its text/plain, or a short
// placeholder naming what a notebook would show.
func bundleText(data map[string]any) string {
	if s, ok := data["text/plain"].(string); ok {
		return strings.TrimRight(s, "\n")
	}
	var kinds []string
	for k, v := range data {
		size := 0
		if s, ok := v.(string); ok {
			size = len(s)
		}
		kinds = append(kinds, fmt.Sprintf("%s, %d bytes", k, size))
	}
	sort.Strings(kinds)
	return "<" + strings.Join(kinds, "; ") + ">"
}

// complete answers Tab: the kernel's completions of the cell typed so far.
// One match (or a longer common prefix) is inserted; several are listed.
func (c *console) complete(line string, pos int) (string, int, bool) {
	c.mu.Lock()
	before := append([]string(nil), c.lines...)
	c.mu.Unlock()
	prefix := ""
	if len(before) > 0 {
		prefix = strings.Join(before, "\n") + "\n"
	}
	code := prefix + line
	cursor := utf8.RuneCountInString(prefix + line[:pos])
	var r jupyter.CompleteReply
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := c.client.Request(ctx, jupyter.Shell, jupyter.MsgCompleteRequest,
		jupyter.CompleteRequest{Code: code, CursorPos: cursor}, &r); err != nil || len(r.Matches) == 0 {
		return "", 0, false
	}
	// The reply's range is in code points of code; the line starts after
	// prefix.
	base := utf8.RuneCountInString(prefix)
	start, end := r.CursorStart-base, r.CursorEnd-base
	runes := []rune(line)
	if start < 0 || end < start || end > len(runes) {
		return "", 0, false
	}
	typed := string(runes[start:end])
	insert := commonPrefix(r.Matches)
	if len(r.Matches) > 1 && len(insert) <= len(typed) {
		_, _ = io.WriteString(c.ed, strings.Join(r.Matches, "  ")+"\n")
		return "", 0, false
	}
	if len(r.Matches) == 1 {
		insert = r.Matches[0]
	}
	head := string(runes[:start]) + insert
	return head + string(runes[end:]), len(head), true
}

// commonPrefix is the longest prefix shared by all of ms.
func commonPrefix(ms []string) string {
	p := ms[0]
	for _, m := range ms[1:] {
		for !strings.HasPrefix(m, p) {
			_, size := utf8.DecodeLastRuneInString(p)
			p = p[:len(p)-size]
		}
	}
	return p
}

// shutdown asks the kernel to end (every rank) and waits for it.
func (c *console) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.client.Request(ctx, jupyter.Control, jupyter.MsgShutdownRequest, jupyter.ShutdownRequest{}, nil); err != nil {
		c.log.Warn("shutdown_request", "err", err)
	}
}
