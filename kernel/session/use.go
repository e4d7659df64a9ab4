package session

import (
	"fmt"
	"os"
	"path"

	"github.com/traefik/yaegi/interp"
	"github.com/traefik/yaegi/stdlib"
)

// Use adds compiled packages to a live session, keyed like Options.Exports
// ("example.com/p/p" is package p at import path "example.com/p"). Later
// cells can import them, auto-import and completion know them, and they
// survive Reset, exactly as if they had been in Options.Exports from the
// start. This is how code compiled while the kernel runs (a plugin built
// from a %%compile cell or a third-party module) reaches the cells.
//
// An import path that was used before is not replaced in the interpreter:
// yaegi binds a package once, so new code needs a new import path.
//
// Use runs between cells (it waits for a running cell to finish). It must
// not run concurrently with Complete or Inspect, which read the package
// index without a lock; the kernel serializes shell requests, so they do
// not.
func (s *Session) Use(x interp.Exports) error {
	s.run.Lock()
	defer s.run.Unlock()
	s.mu.Lock()
	ip := s.ip
	s.mu.Unlock()
	if err := ip.Use(x); err != nil {
		return fmt.Errorf("session: use compiled packages: %w", err)
	}
	merged := make(interp.Exports, len(s.opts.Exports)+len(x))
	for k, v := range s.opts.Exports {
		merged[k] = v
	}
	for k, v := range x {
		merged[k] = v
	}
	s.mu.Lock()
	s.opts.Exports = merged
	s.pkgs = newPkgIndex(stdlib.Symbols, merged)
	s.mu.Unlock()
	return nil
}

// HasPackage reports whether cells can import the package at import path
// ipath: a standard package, one of Options.Exports or one added by Use.
// The kernel asks it to find the imports of a cell that must be built
// first (a third-party module).
func (s *Session) HasPackage(ipath string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.pkgs.names[ipath]
	if !ok {
		// Packages the index leaves out (yaegi's own, internal ones) are
		// still importable if the interpreter has their symbols.
		_, ok = stdlib.Symbols[ipath+"/"+path.Base(ipath)]
	}
	return ok
}

// Stdio returns the write ends of the pipes that capture the cells'
// standard output and error. Compiled code (a plugin) writes to the
// process's os.Stdout and os.Stderr, which the interpreter cannot rebind
// for it; the kernel points those at these files so that what compiled
// code prints reaches the cell's output like what interpreted code prints.
func (s *Session) Stdio() (stdout, stderr *os.File) {
	return s.out.w, s.errs.w
}
