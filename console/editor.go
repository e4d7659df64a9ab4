package console

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/term"
)

// errInterrupted is ReadLine's answer to Ctrl-C: the line is dropped.
var errInterrupted = errors.New("console: Ctrl-C")

// editor is the console's terminal: line input with editing, history and
// completion while idle, and while a cell runs, Ctrl-C as an interrupt and
// everything else typed kept for the next prompt.
type editor interface {
	// ReadLine reads a line after prompt: io.EOF on Ctrl-D at an empty
	// line, errInterrupted on Ctrl-C.
	ReadLine(prompt string) (string, error)
	// ReadInput reads the answer to a cell's input request, on the line
	// the cell's output left off (after "name? "); password: no echo.
	ReadInput(prompt string, password bool) (string, error)
	// SetCompleter sets the Tab completion: the line and the cursor
	// position in bytes give the new line and cursor position.
	SetCompleter(func(line string, pos int) (string, int, bool))
	// Running switches to the mode of a running cell, in which Ctrl-C
	// calls interrupt; Running(nil) switches back.
	Running(interrupt func())
	// Abort ends a ReadLine waiting for keys (as Ctrl-D on an empty line
	// would), for a console told to stop.
	Abort()
	// Write writes output (a cell's, or a late one while idle, which must
	// not garble the line being edited).
	io.Writer
	Close() error
}

// newEditor returns a raw-mode terminal editor when in is a terminal, and a
// plain line reader otherwise (input from a pipe).
func newEditor(in *os.File, out io.Writer) (editor, error) {
	fd := int(in.Fd())
	if !term.IsTerminal(fd) {
		return &plainEditor{in: bufio.NewReader(in), out: out}, nil
	}
	return newRawEditor(in, out)
}

// rawEditor puts the terminal in raw mode for the whole session, so that
// Ctrl-C arrives as a byte, never as SIGINT: the console decides what it
// means (clear the line, or interrupt the cell), and no signal can reach a
// kernel started in the same terminal. One goroutine reads the keys; while
// a line is read they go to golang.org/x/term's line editor, while a cell
// runs they wait (Ctrl-C excepted).
type rawEditor struct {
	fd   int
	old  *term.State
	out  io.Writer
	t    *term.Terminal
	hist *history
	feed chan []byte // keys for the line editor
	winc chan os.Signal

	mu        sync.Mutex
	reading   bool   // a ReadLine is waiting for keys
	pending   []byte // keys typed while a cell ran
	interrupt func() // set while a cell runs
	ctrlC     bool   // the line ended by Ctrl-C
	complete  func(string, int) (string, int, bool)
	midLine   bool // output written since the last prompt did not end a line
	early     bool // Ctrl-C after Enter, before the cell ran
}

func newRawEditor(in *os.File, out io.Writer) (*rawEditor, error) {
	fd := int(in.Fd())
	old, err := term.MakeRaw(fd)
	if err != nil {
		return nil, fmt.Errorf("console: raw terminal: %w", err)
	}
	e := &rawEditor{fd: fd, old: old, out: out, feed: make(chan []byte, 64), winc: make(chan os.Signal, 1)}
	e.hist = &history{}
	e.t = e.newTerminal()
	e.resize()
	signal.Notify(e.winc, syscall.SIGWINCH)
	go func() {
		for range e.winc {
			e.resize()
		}
	}()
	go e.pump(in)
	return e, nil
}

// newTerminal makes the line editor. A new one replaces it after Ctrl-D:
// x/term keeps the Ctrl-D that ended a ReadLine for the next one, which
// would answer "Do you really want to exit?" by itself.
func (e *rawEditor) newTerminal() *term.Terminal {
	t := term.NewTerminal(readWriter{e, e.out}, "")
	t.History = e.hist
	t.AutoCompleteCallback = func(line string, pos int, key rune) (string, int, bool) {
		e.mu.Lock()
		f := e.complete
		e.mu.Unlock()
		if key != '\t' || f == nil {
			return "", 0, false
		}
		return f(line, pos)
	}
	return t
}

func (e *rawEditor) resize() {
	e.mu.Lock()
	t := e.t
	e.mu.Unlock()
	if w, h, err := term.GetSize(e.fd); err == nil {
		_ = t.SetSize(w, h)
	}
}

// pump reads the keyboard for the whole session.
func (e *rawEditor) pump(in io.Reader) {
	buf := make([]byte, 1024)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			e.keys(append([]byte(nil), buf[:n]...))
		}
		if err != nil {
			close(e.feed)
			return
		}
	}
}

// keys routes what was typed.
func (e *rawEditor) keys(b []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.reading {
		for bytes.IndexByte(b, 3) >= 0 { // Ctrl-C while a cell runs
			i := bytes.IndexByte(b, 3)
			e.pending = append(e.pending, b[:i]...)
			b = b[i+1:]
			if e.interrupt != nil {
				go e.interrupt()
			} else {
				// Between Enter and the cell's start (is_complete in
				// flight): the cell is interrupted as soon as it runs.
				e.early = true
			}
		}
		e.pending = append(e.pending, b...)
		return
	}
	if i := bytes.IndexByte(b, 3); i >= 0 {
		// Ctrl-C at the prompt drops the line: erase it to its end and
		// start, and end it; ReadLine reports the Ctrl-C.
		e.ctrlC = true
		b = append(append(b[:i:i], "\x0b\x15\r"...), b[i+1:]...)
	}
	e.feed <- b
}

// readWriter is the line editor's view of the terminal.
type readWriter struct {
	e   *rawEditor
	out io.Writer
}

func (r readWriter) Read(p []byte) (int, error) {
	b, ok := <-r.e.feed
	if !ok {
		return 0, io.EOF
	}
	n := copy(p, b)
	if n < len(b) {
		// Hand the rest back first (the editor reads with a large buffer,
		// so this is rare).
		rest := append([]byte(nil), b[n:]...)
		go func() { r.e.feed <- rest }()
	}
	return n, nil
}

func (r readWriter) Write(p []byte) (int, error) { return r.out.Write(p) }

func (e *rawEditor) read(prompt string, password, newLine bool) (string, error) {
	e.mu.Lock()
	if e.midLine && newLine {
		_, _ = e.out.Write([]byte("\r\n")) // the prompt starts a line
		e.midLine = false
	}
	e.reading, e.ctrlC, e.early = true, false, false
	pending := e.pending
	e.pending = nil
	t := e.t
	e.mu.Unlock()
	if len(pending) > 0 {
		e.keys(pending)
	}
	var line string
	var err error
	if password {
		line, err = t.ReadPassword(prompt)
	} else {
		t.SetPrompt(prompt)
		line, err = t.ReadLine()
	}
	e.mu.Lock()
	e.reading = false
	ctrlC := e.ctrlC
	e.ctrlC = false
	e.mu.Unlock()
	if ctrlC {
		return "", errInterrupted
	}
	if errors.Is(err, io.EOF) {
		nt := e.newTerminal()
		e.mu.Lock()
		e.t = nt
		e.mu.Unlock()
		e.resize()
		_, _ = e.out.Write([]byte("\r\n"))
	}
	return line, err
}

func (e *rawEditor) ReadLine(prompt string) (string, error) { return e.read(prompt, false, true) }

func (e *rawEditor) ReadInput(prompt string, password bool) (string, error) {
	return e.read(prompt, password, false)
}

func (e *rawEditor) SetCompleter(f func(string, int) (string, int, bool)) {
	e.mu.Lock()
	e.complete = f
	e.mu.Unlock()
}

// Abort erases the line and types Ctrl-D.
func (e *rawEditor) Abort() {
	select {
	case e.feed <- []byte("\x0b\x15\x04"):
	default:
	}
}

func (e *rawEditor) Running(interrupt func()) {
	e.mu.Lock()
	e.interrupt = interrupt
	early := e.early && interrupt != nil
	e.early = false
	e.mu.Unlock()
	if early {
		go interrupt()
	}
}

// Write goes through the line editor while a line is read (it redraws the
// prompt below the output), else straight to the terminal with the line
// ends raw mode needs.
func (e *rawEditor) Write(p []byte) (int, error) {
	e.mu.Lock()
	reading, t := e.reading, e.t
	if !reading && len(p) > 0 {
		e.midLine = p[len(p)-1] != '\n'
	}
	e.mu.Unlock()
	if reading {
		return t.Write(p)
	}
	if _, err := e.out.Write(crlf(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// crlf turns "\n" into "\r\n" (a raw terminal does not).
func crlf(p []byte) []byte {
	return bytes.ReplaceAll(bytes.ReplaceAll(p, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
}

func (e *rawEditor) Close() error {
	signal.Stop(e.winc)
	close(e.winc)
	if err := term.Restore(e.fd, e.old); err != nil {
		return fmt.Errorf("console: restore terminal: %w", err)
	}
	return nil
}

// history keeps the lines entered, without empty lines and repeats, for
// the up and down arrows.
type history struct {
	lines []string
}

func (h *history) Add(l string) {
	if strings.TrimSpace(l) == "" || (len(h.lines) > 0 && h.lines[len(h.lines)-1] == l) {
		return
	}
	h.lines = append(h.lines, l)
	if len(h.lines) > 1000 {
		h.lines = h.lines[1:]
	}
}

func (h *history) Len() int { return len(h.lines) }

// At is the idx-th most recent line (0 is the newest).
func (h *history) At(idx int) string { return h.lines[len(h.lines)-1-idx] }

// plainEditor reads lines from a pipe: no editing, no Ctrl-C.
type plainEditor struct {
	in  *bufio.Reader
	out io.Writer
	mu  sync.Mutex
}

func (p *plainEditor) ReadLine(prompt string) (string, error) {
	if _, err := io.WriteString(p, prompt); err != nil {
		return "", err
	}
	line, err := p.in.ReadString('\n')
	if err != nil && line == "" {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func (p *plainEditor) ReadInput(prompt string, _ bool) (string, error)    { return p.ReadLine(prompt) }
func (p *plainEditor) SetCompleter(func(string, int) (string, int, bool)) {}
func (p *plainEditor) Running(func())                                     {}
func (p *plainEditor) Abort()                                             {}
func (p *plainEditor) Close() error                                       { return nil }

func (p *plainEditor) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}
