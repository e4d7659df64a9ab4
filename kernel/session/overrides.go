package session

import (
	"fmt"
	"io"
	"log"
	"os"
	"reflect"
	"sync"
	"time"

	"github.com/traefik/yaegi/interp"
	"github.com/traefik/yaegi/stdlib"
)

// exitSignal is the panic value of os.Exit and log.Fatal in a cell: the
// process must survive a cell calling them, so they unwind the cell instead
// and Execute reports Err{Name: "Exit"}.
type exitSignal struct{ code int }

// Exit is os.Exit as cells have it: it ends the cell, not the process,
// with an Exit error ("exit status 3"). Compiled cells get it too (package
// compile's guard rewrites their os.Exit calls).
func Exit(code int) { panic(exitSignal{code}) }

func (e exitSignal) String() string { return fmt.Sprintf("exit status %d", e.code) }

// interrupter hands out the channel closed when the running execution (a
// cell, a guarded Call) is interrupted. Compiled functions offered to cells
// that may block (time.Sleep) select on it, since yaegi can only stop
// interpreted code. The channel stays closed until the next execution arms
// a new one: a sleep that starts just after the interrupt (the cell had not
// reached it yet) returns at once instead of waiting on a fresh channel for
// its whole duration.
type interrupter struct {
	mu    sync.Mutex
	ch    chan struct{}
	fired bool
}

func newInterrupter() *interrupter { return &interrupter{ch: make(chan struct{})} }

// current returns the channel closed when the running execution is
// interrupted (already closed if it was).
func (i *interrupter) current() <-chan struct{} {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.ch
}

// arm starts an execution: an interrupt of an earlier one no longer counts.
func (i *interrupter) arm() {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.fired {
		i.ch, i.fired = make(chan struct{}), false
	}
}

// fire interrupts the running execution: everything waiting on the current
// channel wakes, and whatever waits on it later returns at once.
func (i *interrupter) fire() {
	i.mu.Lock()
	defer i.mu.Unlock()
	if !i.fired {
		close(i.ch)
		i.fired = true
	}
}

// sleep is time.Sleep for cells: it returns early on an interrupt (the
// interpreter then stops the cell at its next step).
func (i *interrupter) sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-i.current():
	}
}

// cellLogger replaces *log.Logger for cells (yaegi already replaces it with
// its own wrapper type, whose Fatal panics with a plain message); Fatal* here
// end the cell with an exit status like the real ones end a program.
type cellLogger struct{ l *log.Logger }

// The methods mirror *log.Logger.

func (c *cellLogger) Fatal(v ...any) { _ = c.l.Output(2, fmt.Sprint(v...)); panic(exitSignal{1}) }
func (c *cellLogger) Fatalf(f string, v ...any) {
	_ = c.l.Output(2, fmt.Sprintf(f, v...))
	panic(exitSignal{1})
}
func (c *cellLogger) Fatalln(v ...any)               { _ = c.l.Output(2, fmt.Sprintln(v...)); panic(exitSignal{1}) }
func (c *cellLogger) Flags() int                     { return c.l.Flags() }
func (c *cellLogger) Output(d int, s string) error   { return c.l.Output(d+1, s) }
func (c *cellLogger) Panic(v ...any)                 { c.l.Panic(v...) }
func (c *cellLogger) Panicf(f string, v ...any)      { c.l.Panicf(f, v...) }
func (c *cellLogger) Panicln(v ...any)               { c.l.Panicln(v...) }
func (c *cellLogger) Prefix() string                 { return c.l.Prefix() }
func (c *cellLogger) Print(v ...any)                 { c.l.Print(v...) }
func (c *cellLogger) Printf(f string, v ...any)      { c.l.Printf(f, v...) }
func (c *cellLogger) Println(v ...any)               { c.l.Println(v...) }
func (c *cellLogger) SetFlags(flag int)              { c.l.SetFlags(flag) }
func (c *cellLogger) SetOutput(w io.Writer)          { c.l.SetOutput(w) }
func (c *cellLogger) SetPrefix(p string)             { c.l.SetPrefix(p) }
func (c *cellLogger) Writer() io.Writer              { return c.l.Writer() }
func (c *cellLogger) outputFrom(depth int, s string) { _ = c.l.Output(depth+1, s) }

// overrides returns the symbols that replace yaegi's stdlib ones in a
// session: the standard streams are the capture pipes, exiting ends the cell
// rather than the process, and sleeping obeys interrupts.
//
// yaegi's own stderr (Options.Stderr) is not the user's stderr: yaegi prints
// its panic trace lines there, and they belong in the error's traceback.
func overrides(stdin *os.File, streams *cellStreams, intr *interrupter) interp.Exports {
	std := &cellLogger{log.New(stderrWriter{streams}, "", log.LstdFlags)}
	logs := map[string]reflect.Value{
		"Default": reflect.ValueOf(func() *cellLogger { return std }),
		"New": reflect.ValueOf(func(out io.Writer, prefix string, flag int) *cellLogger {
			return &cellLogger{log.New(out, prefix, flag)}
		}),
		"Logger":    reflect.ValueOf((*cellLogger)(nil)),
		"Fatal":     reflect.ValueOf(func(v ...any) { std.outputFrom(2, fmt.Sprint(v...)); panic(exitSignal{1}) }),
		"Fatalf":    reflect.ValueOf(func(f string, v ...any) { std.outputFrom(2, fmt.Sprintf(f, v...)); panic(exitSignal{1}) }),
		"Fatalln":   reflect.ValueOf(func(v ...any) { std.outputFrom(2, fmt.Sprintln(v...)); panic(exitSignal{1}) }),
		"Flags":     reflect.ValueOf(std.Flags),
		"Output":    reflect.ValueOf(func(d int, s string) error { return std.l.Output(d+1, s) }),
		"Panic":     reflect.ValueOf(std.Panic),
		"Panicf":    reflect.ValueOf(std.Panicf),
		"Panicln":   reflect.ValueOf(std.Panicln),
		"Prefix":    reflect.ValueOf(std.Prefix),
		"Print":     reflect.ValueOf(std.Print),
		"Printf":    reflect.ValueOf(std.Printf),
		"Println":   reflect.ValueOf(std.Println),
		"SetFlags":  reflect.ValueOf(std.SetFlags),
		"SetOutput": reflect.ValueOf(std.SetOutput),
		"SetPrefix": reflect.ValueOf(std.SetPrefix),
		"Writer":    reflect.ValueOf(std.Writer),
	}
	// Interpreted values passed to these functions must be wrapped so that
	// their String/Format methods are seen, as yaegi does for fmt.Print*.
	stringers := stdlib.MapTypes[reflect.ValueOf(fmt.Print)]
	mapTypes := map[reflect.Value][]reflect.Type{}
	for _, name := range []string{"Fatal", "Fatalf", "Fatalln", "Panic", "Panicf", "Panicln", "Print", "Printf", "Println"} {
		mapTypes[logs[name]] = stringers
	}
	return interp.Exports{
		".": {"MapTypes": reflect.ValueOf(mapTypes)},
		"os/os": {
			"Stdin":  reflect.ValueOf(&stdin).Elem(),
			"Stdout": reflect.ValueOf(&streams.vars[0]).Elem(),
			"Stderr": reflect.ValueOf(&streams.vars[1]).Elem(),
			"Exit":   reflect.ValueOf(Exit),
		},
		"log/log": logs,
		"time/time": {
			"Sleep": reflect.ValueOf(intr.sleep),
		},
	}
}
