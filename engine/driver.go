package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime"
	"sync"

	"github.com/gompi-kernel/gompi-kernel/internal/exports"
	"github.com/gompi-kernel/gompi-kernel/mpi"
)

// EventLoopSettings is pyMOR's event_loop_settings: with AutoLaunch (the
// default), LaunchEventLoop puts every rank but 0 into the event loop.
type EventLoopSettings struct {
	AutoLaunch bool
}

// caller is rank 0's side of Call and Quit: the Coordinator.
type caller interface {
	call(fn string, args []any) (any, error)
	quit() error
}

// looper is a worker's side of EventLoop: the Worker.
type looper interface {
	eventLoop(ctx context.Context) error
}

// Driver is the kernel's half of the pyMOR API in cells (package mpi):
// what needs the other ranks. The rank-local half (ManageObject,
// FunctionCall, …) is registry.API.
type Driver struct {
	rank int

	mu       sync.Mutex
	caller   caller // rank 0
	looper   looper // workers
	ctx      context.Context
	settings EventLoopSettings
	info     func() string
	out      io.Writer // the rank's cell stdout: compiled code's fmt.Print would bypass it
}

func newDriver(rank int, info func() string, out io.Writer) *Driver {
	return &Driver{rank: rank, ctx: context.Background(), settings: EventLoopSettings{AutoLaunch: true}, info: info, out: out}
}

func (d *Driver) bind(ctx context.Context) {
	d.mu.Lock()
	d.ctx = ctx
	d.mu.Unlock()
}

func (d *Driver) setCaller(c caller) {
	d.mu.Lock()
	d.caller = c
	d.mu.Unlock()
}

func (d *Driver) setLooper(l looper) {
	d.mu.Lock()
	d.looper = l
	d.mu.Unlock()
}

// errNotRank0 is what Call and Quit say on a worker rank.
var errNotRank0 = errors.New("only rank 0 drives the other ranks: use Call in a %%rank0 cell, or on rank 0 (if mpi.Rank() == 0 { … }) while the other ranks are in mpi.EventLoop()")

// Call runs the function named fn with args on every rank, rank 0 included,
// and returns rank 0's result (pyMOR's call). fn is a function defined in
// a cell (so on every rank), pkg.Name, or one of this package's helpers:
// "FunctionCall", "FunctionCallManage", "MethodCall", "MethodCallManage",
// "ManageObject", "RemoveObject", "RunCode", "ImportModule", "Info". The
// other ranks must be serving: in a %%rank0 cell they are; in a cell on
// every rank they serve once they call mpi.EventLoop().
func (d *Driver) Call(fn string, args ...any) (any, error) {
	d.mu.Lock()
	c := d.caller
	d.mu.Unlock()
	if c == nil {
		return nil, fmt.Errorf("Call(%q): %w", fn, errNotRank0)
	}
	return c.call(fn, args)
}

// Quit releases every rank waiting in EventLoop (pyMOR's quit). In a
// %%rank0 cell there is nothing to release: the other ranks go back to
// running cells when it ends.
func (d *Driver) Quit() error {
	d.mu.Lock()
	c := d.caller
	d.mu.Unlock()
	if c == nil {
		return fmt.Errorf("Quit: %w", errNotRank0)
	}
	return c.quit()
}

// EventLoop serves rank 0's Calls until rank 0 calls Quit (pyMOR's
// event_loop). On rank 0 it returns at once: rank 0 is the one that calls.
func (d *Driver) EventLoop() error {
	d.mu.Lock()
	l, ctx := d.looper, d.ctx
	d.mu.Unlock()
	if l == nil {
		return nil
	}
	return l.eventLoop(ctx)
}

// SetEventLoopSettings changes what LaunchEventLoop does.
func (d *Driver) SetEventLoopSettings(s EventLoopSettings) {
	d.mu.Lock()
	d.settings = s
	d.mu.Unlock()
}

// LaunchEventLoop enters EventLoop on every rank but 0 when the settings'
// AutoLaunch is on (pyMOR's launch_event_loop).
func (d *Driver) LaunchEventLoop() error {
	d.mu.Lock()
	auto := d.settings.AutoLaunch
	d.mu.Unlock()
	if !auto || d.rank == 0 {
		return nil
	}
	return d.EventLoop()
}

// Info prints this rank's line: rank, host, pid, Go and MPI versions and
// the objects it manages (pyMOR's mpi_info). In a cell on every rank that
// is one line per rank; from a %%rank0 cell, Call("Info") does the same.
func (d *Driver) Info() {
	fmt.Fprintln(d.out, d.info())
}

// symbols is the Driver as the interpreter wants a package.
func (d *Driver) symbols() map[string]reflect.Value {
	return exports.With(exports.Methods(d),
		map[string]reflect.Value{"EventLoopSettings": reflect.ValueOf((*EventLoopSettings)(nil))})
}

// rankInfo is the first part of a rank's Info line.
func rankInfo(rank, size int) string {
	host, _ := os.Hostname()
	return fmt.Sprintf("rank %d/%d on %s (%s), pid %d, %s, %s", rank, size, host, mpi.ProcessorName(),
		os.Getpid(), runtime.Version(), mpi.LibraryVersion())
}
