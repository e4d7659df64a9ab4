package session

import (
	"errors"
	"fmt"
	"os"
)

// cellStreams are the files cells see as os.Stdout and os.Stderr.
//
// They are duplicates of the capture pipes' write ends, never the write
// ends themselves: a cell that closes os.Stdout closes only its duplicate,
// and the kernel's own writes (fmt.Print, print, the end-of-cell marker)
// still reach the pipe. Before every cell, restore puts back a cell's
// replacement (os.Stdout = f) and replaces a closed duplicate, so whatever a
// cell does to the standard streams affects that cell only.
type cellStreams struct {
	pipes [2]*os.File // the capture pipes' write ends: stdout, stderr
	own   [2]*os.File // the duplicates handed out
	vars  [2]*os.File // the interpreter's os.Stdout and os.Stderr variables
}

func newCellStreams(stdout, stderr *os.File) (*cellStreams, error) {
	c := &cellStreams{pipes: [2]*os.File{stdout, stderr}}
	for i := range c.pipes {
		if err := c.renew(i); err != nil {
			return nil, err
		}
		c.vars[i] = c.own[i]
	}
	return c, nil
}

// renew makes a fresh duplicate of pipe i.
func (c *cellStreams) renew(i int) error {
	fd, err := dupCloexec(int(c.pipes[i].Fd()))
	if err != nil {
		return fmt.Errorf("session: duplicate %s: %w", c.pipes[i].Name(), err)
	}
	c.own[i] = os.NewFile(uintptr(fd), c.pipes[i].Name())
	return nil
}

// restore undoes what the last cell did to os.Stdout and os.Stderr. A
// duplicate still open is kept (goroutines of earlier cells may hold it);
// a closed one is replaced, not reopened.
func (c *cellStreams) restore() error {
	for i := range c.own {
		if closed(c.own[i]) {
			if err := c.renew(i); err != nil {
				return err
			}
		}
		c.vars[i] = c.own[i]
	}
	return nil
}

// closed reports whether f was closed, without a system call (a
// zero-length write, used before, cost a worker two per cell): the raw
// connection refuses to run anything on a closed file.
func closed(f *os.File) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return true
	}
	return rc.Control(func(uintptr) {}) != nil
}

// close closes the duplicates; one a cell already closed is no error.
func (c *cellStreams) close() error {
	var errs []error
	for _, f := range c.own {
		if err := f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// stderrWriter writes to whatever the cells' os.Stderr is now, for the loggers
// of package log (log.Print writes to os.Stderr in Go).
type stderrWriter struct{ c *cellStreams }

func (w stderrWriter) Write(p []byte) (int, error) { return w.c.vars[1].Write(p) }
