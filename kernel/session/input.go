package session

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
)

// errNoInput is returned when a cell reads standard input where there is
// none to ask: on a worker rank, or when the frontend does not allow it.
var errNoInput = errors.New("no input here: standard input is read on rank 0, from a frontend that allows it")

// stdinReader is the cells' standard input: whenever it runs dry it asks
// Options.Input for a line (the kernel sends an input_request to the
// frontend). What a line holds beyond what a Scan consumed stays for the
// next read, as on a terminal.
type stdinReader struct {
	s   *Session
	buf []byte
}

func (r *stdinReader) Read(p []byte) (int, error) {
	if len(r.buf) == 0 {
		ask := r.s.opts.Input
		if ask == nil {
			return 0, fmt.Errorf("%w (EOF)", errNoInput)
		}
		// The prompt a cell printed must reach the frontend first.
		r.s.out.sync()
		r.s.errs.sync()
		line, err := r.s.askInterruptibly(ask)
		if err != nil {
			return 0, fmt.Errorf("read input: %v: %w", err, io.EOF)
		}
		r.buf = []byte(line + "\n")
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// askInterruptibly asks for a line and waits for it, or for the running
// cell's interrupt: an interrupted cell must not wait for its code to
// stop (runChunk) while that code waits for the frontend. The question
// stays asked; a late answer is dropped.
func (s *Session) askInterruptibly(ask func(prompt string, password bool) (string, error)) (string, error) {
	type answer struct {
		line string
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		line, err := ask("", false)
		answered <- answer{line, err}
	}()
	select {
	case a := <-answered:
		return a.line, a.err
	case <-s.intr.current():
		return "", errors.New("interrupted")
	}
}

// inputExports makes bufio readers and scanners made on os.Stdin read
// through the stdinReader (fmt.Scan, Scanln and Scanf do already: yaegi
// reads them from the interpreter's Stdin). A direct os.Stdin.Read gets
// EOF: os.Stdin must stay a real file for yaegi.
func (s *Session) inputExports(in io.Reader) map[string]map[string]reflect.Value {
	fromStdin := func(rd io.Reader) io.Reader {
		if f, ok := rd.(*os.File); ok && f == s.stdin {
			return in
		}
		return rd
	}
	return map[string]map[string]reflect.Value{
		"bufio/bufio": {
			"NewReader":     reflect.ValueOf(func(rd io.Reader) *bufio.Reader { return bufio.NewReader(fromStdin(rd)) }),
			"NewReaderSize": reflect.ValueOf(func(rd io.Reader, n int) *bufio.Reader { return bufio.NewReaderSize(fromStdin(rd), n) }),
			"NewScanner":    reflect.ValueOf(func(rd io.Reader) *bufio.Scanner { return bufio.NewScanner(fromStdin(rd)) }),
		},
	}
}
