// Package mpi is gompi-kernel's own small binding of MPI (OpenMPI 4.1, via
// cgo): the byte-message transport the kernel uses between its ranks
// (Layer 1: Comm, Request, Probe/Incoming, Poller) and the collectives that
// cells see as package "gompi/mpi" (Layer 2: World).
//
// Two properties drive the design:
//
//   - Idle ranks must not burn CPU. OpenMPI's blocking calls busy-poll (one
//     full core per waiting rank), so nothing here blocks inside MPI: every
//     operation is started non-blocking and completed by a Poller that tests
//     it with exponential backoff.
//   - Everything a cell can block in must be interruptible. A Poller watches a
//     context; an operation abandoned on cancellation keeps its buffer pinned
//     (MPI may still write into it) and its communicator is replaced
//     (World.Renew), never reused.
//
// The package knows nothing about Jupyter or the interpreter.
package mpi

import (
	"errors"
	"fmt"
	"os"
	"sync"
)

// AnySource and AnyTag match a message from any sender / with any tag in
// Probe and World.Recv.
const (
	AnySource = anySource
	AnyTag    = anyTag
)

// library is the state MPI forces to be process-wide: whether MPI is
// initialised, the thread level it granted, the lock that serialises calls
// when that level is below MPI_THREAD_MULTIPLE, and the set of operations MPI
// still holds Go memory for. It exists once, as proc; everything else in the
// package hangs off values (Comm, World, Poller).
type library struct {
	mu        sync.Mutex // guards initialised, finalised, provided, world
	init      bool
	finalised bool
	provided  int
	world     *Comm

	// call serialises MPI calls when MPI granted less than
	// MPI_THREAD_MULTIPLE; serial is fixed after Init.
	call   sync.Mutex
	serial bool

	// live holds every started, not yet completed Request. A Request that
	// its owner abandoned (an interrupted collective) must stay reachable:
	// its runtime.Pinner would otherwise be collected while pinned, which
	// makes the Go runtime panic, and MPI may still write into the buffer.
	liveMu sync.Mutex
	live   map[*Request]struct{}
}

// proc is the one process-wide MPI state (see library).
var proc = &library{live: make(map[*Request]struct{})}

// lock serialises an MPI call if MPI is not thread-safe at MPI_THREAD_MULTIPLE.
func (l *library) lock() {
	if l.serial {
		l.call.Lock()
	}
}

func (l *library) unlock() {
	if l.serial {
		l.call.Unlock()
	}
}

func (l *library) track(r *Request) {
	l.liveMu.Lock()
	l.live[r] = struct{}{}
	l.liveMu.Unlock()
}

func (l *library) untrack(r *Request) {
	l.liveMu.Lock()
	delete(l.live, r)
	l.liveMu.Unlock()
}

// Pending returns the number of non-blocking operations that were started
// and have not been seen complete: in-flight ones plus those abandoned by an
// interrupt. It is meant for diagnostics and tests.
func Pending() int {
	proc.liveMu.Lock()
	defer proc.liveMu.Unlock()
	return len(proc.live)
}

// ErrNotInitialized is returned by calls made before Init or after Finalize.
var ErrNotInitialized = errors.New("mpi: not initialized (call mpi.Init first) or already finalized")

// Init initialises MPI with MPI_THREAD_MULTIPLE requested. It is idempotent.
// A program started without mpirun becomes a one-rank singleton. If MPI
// grants less than MPI_THREAD_MULTIPLE, every MPI call of this package is
// serialised behind one lock (goroutines migrate between OS threads, so
// FUNNELED cannot be honoured beyond that; OpenMPI tolerates it).
//
// Init also gives back the Go runtime's handlers for SIGSEGV, SIGBUS, SIGFPE,
// SIGILL, SIGABRT and SIGTRAP should MPI_Init replace them (OpenMPI's
// opal_signal backtrace printer, UCX's error handlers): a nil dereference
// in a cell must stay a recoverable Go panic. With OpenMPI 4.1 under mpirun
// here nothing needed restoring (OpenMPI leaves existing handlers alone); it
// is a guard for other transports and configurations.
func Init() error {
	l := proc
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.init {
		return nil
	}
	if l.finalised || cFinalized() {
		return errors.New("mpi: Init after Finalize: MPI cannot be re-initialised")
	}
	if cInitialized() {
		// Someone else (a C library) initialised MPI; use it as is.
		l.provided = threadSingle
		l.serial = true
	} else {
		p, err := cInit()
		if err != nil {
			return err
		}
		l.provided = p
		l.serial = p < threadMultiple
	}
	world, err := newComm(cCommWorld(), false)
	if err != nil {
		return fmt.Errorf("mpi: Init: %w", err)
	}
	l.world = world
	l.init = true
	return nil
}

// ThreadLevel reports the thread support MPI granted ("multiple",
// "serialized", "funneled" or "single"). Below "multiple" the package
// serialises its MPI calls.
func ThreadLevel() string {
	switch proc.provided {
	case threadMultiple:
		return "multiple"
	case threadSerialzed:
		return "serialized"
	case threadFunneled:
		return "funneled"
	}
	return "single"
}

// Finalize shuts MPI down. It is idempotent and a no-op if Init was never
// called. Operations abandoned earlier (interrupted collectives) are left
// as they are; MPI_Finalize does not wait for them in OpenMPI.
func Finalize() error {
	l := proc
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.init || l.finalised {
		return nil
	}
	l.lock()
	err := cFinalize()
	l.unlock()
	l.finalised = true
	l.init = false
	return err
}

// Abort ends every rank of the job with the given exit code (MPI_Abort on
// MPI_COMM_WORLD). It does not return when MPI is initialised.
func Abort(code int) {
	if initialised() {
		cAbort(code)
	}
	// Not initialised: there is no job to abort but ours.
	os.Exit(code)
}

func initialised() bool {
	proc.mu.Lock()
	defer proc.mu.Unlock()
	return proc.init
}

// WorldComm returns MPI_COMM_WORLD, or nil before Init.
func WorldComm() *Comm {
	proc.mu.Lock()
	defer proc.mu.Unlock()
	return proc.world
}

// Wtime returns MPI_Wtime: seconds since an arbitrary point in the past.
func Wtime() float64 { return cWtime() }

// LibraryVersion returns the first line of MPI_Get_library_version, e.g.
// "Open MPI v4.1.4, package: Debian OpenMPI, …".
func LibraryVersion() string { return cLibraryVersion() }

// ProcessorName returns MPI_Get_processor_name (usually the host name).
func ProcessorName() string { return cProcessorName() }
