package session

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/traefik/yaegi/interp"
)

// An interrupted chunk is waited for until its code has stopped, so that
// the next cell never compiles or runs beside it: yaegi's compiler and its
// global frame are not safe for two at once. (yaegi v0.16.1's
// ExecuteWithContext returns as soon as its context fires and leaves the
// stopped code to wind down on its own; a cell's nested mpi.RunCode still
// compiling then raced with the next cell's compile, which failed with
// "undefined: mpi" or a panic "nil type" in yaegi's scope.)
const (
	// stopGrace bounds the wait: code blocked in a compiled call that
	// ignores the interrupt (sync.WaitGroup.Wait on a goroutine that
	// stopped) would otherwise keep the kernel from answering. Past it the
	// cell is reported interrupted and its code goes on in the background.
	stopGrace = time.Second
	// stopRetry is how often the interpreter is told again to stop while
	// the chunk has not ended: a nested chunk that started just after an
	// interrupt (mpi.RunCode from the stopped code) reset the run id the
	// first stop moved on.
	stopRetry = 10 * time.Millisecond
)

// errStillRunning marks an interrupted chunk whose code did not stop within
// stopGrace.
var errStillRunning = fmt.Errorf("the cell's code did not stop within %v (it is inside a compiled call that ignores interrupts) and goes on in the background", stopGrace)

// runChunk executes a compiled chunk under ctx. A nested chunk (run by
// mpi.RunCode from within a running cell, ctx an interruptCtx) runs
// inside the cell's execution, which its interrupt stops; a chunk
// whose ctx can fire runs on a goroutine of its own, and an interrupt stops
// it and waits for it (see stopGrace).
func runChunk(ctx context.Context, ip *interp.Interpreter, prog *interp.Program) (reflect.Value, error) {
	if _, nested := ctx.(interruptCtx); nested {
		// Execute, not ExecuteWithContext: a second ExecuteWithContext
		// would replace the channel the cell's interrupt closes.
		if err := ctx.Err(); err != nil {
			return reflect.Value{}, err
		}
		return ip.Execute(prog)
	}
	if ctx.Done() == nil {
		return ip.ExecuteWithContext(ctx, prog)
	}
	type outcome struct {
		v   reflect.Value
		err error
	}
	ended := make(chan outcome, 1)
	go func() {
		// Background: the stop is ours (stopInterpreter), so that the
		// chunk's end can be waited for.
		v, err := ip.ExecuteWithContext(context.Background(), prog)
		ended <- outcome{v, err}
	}()
	select {
	case o := <-ended:
		return o.v, o.err
	case <-ctx.Done():
	}
	grace := time.NewTimer(stopGrace)
	defer grace.Stop()
	retry := time.NewTicker(stopRetry)
	defer retry.Stop()
	for {
		if !stopInterpreter(ip) {
			return reflect.Value{}, errStillRunning
		}
		select {
		case <-ended:
			return reflect.Value{}, ctx.Err()
		case <-grace.C:
			return reflect.Value{}, errStillRunning
		case <-retry.C:
		}
	}
}

// stopInterpreter does what yaegi v0.16.1's unexported Interpreter.stop
// does: a new run id, which every running frame checks at its next step,
// and the close of the channel that interpreted channel operations select
// on. Unlike it, it may run several times. It reports false when the
// pinned version's fields are not found (nothing was stopped).
func stopInterpreter(i *interp.Interpreter) bool {
	ip := reflect.ValueOf(i).Elem()
	id, mu, done := field(ip, "id"), field(ip, "mutex"), field(ip, "done")
	if !id.IsValid() || id.Type() != reflect.TypeFor[uint64]() ||
		!mu.IsValid() || mu.Type() != reflect.TypeFor[sync.RWMutex]() ||
		!done.IsValid() || done.Type() != reflect.TypeFor[chan struct{}]() {
		return false
	}
	atomic.AddUint64((*uint64)(unsafe.Pointer(id.UnsafeAddr())), 1)
	lock := (*sync.RWMutex)(unsafe.Pointer(mu.UnsafeAddr()))
	lock.Lock()
	defer lock.Unlock()
	if ch := *(*chan struct{})(unsafe.Pointer(done.UnsafeAddr())); ch != nil {
		select {
		case <-ch:
		default:
			close(ch)
		}
	}
	return true
}
