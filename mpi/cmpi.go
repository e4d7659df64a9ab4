package mpi

// This file is the only one that speaks C. Every MPI call of the package goes
// through the thin wrappers below, so that the cgo pointer rules can be checked
// in one place: a Go pointer handed to MPI is either used only for the
// duration of the call (blocking calls, handle out-parameters), or it is
// pinned with a runtime.Pinner held by the Request that owns the operation.
//
// OpenMPI defines its handles (MPI_COMM_WORLD, MPI_DOUBLE, MPI_SUM, …) as
// addresses of global objects, which cgo cannot take from a macro, hence the
// small static accessor functions. MPICH's handles are ints, its macros
// casts of constants; the accessors serve both, and no Go code here may
// assume a handle is a pointer (nil) or an int. Which library is linked is
// chosen by build tag: cmpi_openmpi.go, cmpi_mpich.go.

/*
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <mpi.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

static MPI_Comm gompi_comm_world(void) { return MPI_COMM_WORLD; }
static MPI_Comm gompi_comm_null(void) { return MPI_COMM_NULL; }
static MPI_Datatype gompi_byte(void) { return MPI_BYTE; }
static MPI_Datatype gompi_double(void) { return MPI_DOUBLE; }
static MPI_Datatype gompi_int32(void) { return MPI_INT32_T; }
static MPI_Datatype gompi_int64(void) { return MPI_INT64_T; }
static MPI_Op gompi_op(int i) {
	switch (i) {
	case 0: return MPI_SUM;
	case 1: return MPI_MIN;
	case 2: return MPI_MAX;
	case 3: return MPI_PROD;
	}
	return MPI_OP_NULL;
}
static MPI_Request gompi_request_null(void) { return MPI_REQUEST_NULL; }
static void *gompi_in_place(void) { return MPI_IN_PLACE; }

// MPI_Init installs signal handlers (OpenMPI's backtrace printer for SEGV,
// BUS, FPE, ABRT; UCX's error handlers, which MPICH's ch4:ucx device, as
// Debian builds it, installs too) that replace the Go runtime's. Go
// turns a nil dereference into a recoverable panic through its SIGSEGV
// handler, and a cell's nil dereference must stay recoverable, so the
// synchronous signals get the handlers they had before MPI_Init back. Any
// other handler MPI installed is kept but given SA_ONSTACK, which Go requires
// of foreign handlers (signals may arrive on goroutine stacks).
static struct sigaction gompi_saved[NSIG];

static void gompi_save_signals(void) {
	for (int s = 1; s < NSIG; s++) {
		sigaction(s, NULL, &gompi_saved[s]);
	}
}

static int gompi_restore_signals(void) {
	int fixed = 0;
	for (int s = 1; s < NSIG; s++) {
		struct sigaction now;
		if (sigaction(s, NULL, &now) != 0) continue;
		if (now.sa_handler == gompi_saved[s].sa_handler) continue;
		if (s == SIGSEGV || s == SIGBUS || s == SIGFPE || s == SIGILL || s == SIGABRT || s == SIGTRAP) {
			sigaction(s, &gompi_saved[s], NULL);
			fixed++;
		} else if (!(now.sa_flags & SA_ONSTACK) && now.sa_handler != SIG_DFL && now.sa_handler != SIG_IGN) {
			now.sa_flags |= SA_ONSTACK;
			sigaction(s, &now, NULL);
			fixed++;
		}
	}
	return fixed;
}

// While MPI_Init and MPI_Finalize wait for the other processes (OpenMPI's
// PMIx fences), they poll: progress, usleep(100), again. With 64 processes
// waiting that way on a few cores, the wake-ups of the ones that wait take
// the CPU from the ones still starting, and every process is late. A
// timer slack of slack_ns for the calling thread (and the threads MPI
// starts from it) lets the kernel stretch each of those sleeps up to that
// long; the thread's own slack is put back afterwards. It costs each wait
// at most slack_ns after the last process arrives. Linux only; elsewhere
// the sleeps are left as they are.
static unsigned long gompi_slack_begin(unsigned long slack_ns) {
#ifdef __linux__
	int old = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
	if (slack_ns > 0 && old >= 0 && prctl(PR_SET_TIMERSLACK, slack_ns, 0, 0, 0) == 0) {
		return (unsigned long)old;
	}
#endif
	return 0;
}

static void gompi_slack_end(unsigned long old) {
#ifdef __linux__
	if (old > 0) prctl(PR_SET_TIMERSLACK, old, 0, 0, 0);
#endif
}

static int gompi_init(int *provided, unsigned long slack_ns) {
	gompi_save_signals();
	unsigned long old = gompi_slack_begin(slack_ns);
	int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, provided);
	gompi_slack_end(old);
	gompi_restore_signals();
	return rc;
}

static int gompi_finalize(unsigned long slack_ns) {
	unsigned long old = gompi_slack_begin(slack_ns);
	int rc = MPI_Finalize();
	gompi_slack_end(old);
	return rc;
}

// Errors are returned, not fatal: the kernel must report a failed call and
// go on. MPI_ERRORS_RETURN is set on every communicator we create or dup
// (the error handler is inherited by MPI_Comm_dup/idup).
static int gompi_errors_return(MPI_Comm c) {
	return MPI_Comm_set_errhandler(c, MPI_ERRORS_RETURN);
}

static int gompi_isend(void *buf, int n, MPI_Datatype t, int dest, int tag, MPI_Comm c, MPI_Request *r) {
	return MPI_Isend(buf, n, t, dest, tag, c, r);
}
static int gompi_irecv(void *buf, int n, MPI_Datatype t, int src, int tag, MPI_Comm c, MPI_Request *r) {
	return MPI_Irecv(buf, n, t, src, tag, c, r);
}
static int gompi_test(MPI_Request *r, int *flag, int *src, int *tag, int *count) {
	MPI_Status st;
	int rc = MPI_Test(r, flag, &st);
	if (rc == MPI_SUCCESS && *flag) {
		*src = st.MPI_SOURCE;
		*tag = st.MPI_TAG;
		MPI_Get_count(&st, MPI_BYTE, count);
	}
	return rc;
}
static int gompi_improbe(int src, int tag, MPI_Comm c, int *flag, MPI_Message *m, int *osrc, int *otag, int *count) {
	MPI_Status st;
	int rc = MPI_Improbe(src, tag, c, flag, m, &st);
	if (rc == MPI_SUCCESS && *flag) {
		*osrc = st.MPI_SOURCE;
		*otag = st.MPI_TAG;
		MPI_Get_count(&st, MPI_BYTE, count);
	}
	return rc;
}
static int gompi_mrecv(void *buf, int n, MPI_Message *m) {
	return MPI_Mrecv(buf, n, MPI_BYTE, m, MPI_STATUS_IGNORE);
}
// gompi_local_size is the number of ranks of c that share this node's
// memory (MPI_COMM_TYPE_SHARED). Collective over c.
static int gompi_local_size(MPI_Comm c, int *n) {
	MPI_Comm shared;
	int rc = MPI_Comm_split_type(c, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &shared);
	if (rc != MPI_SUCCESS) return rc;
	rc = MPI_Comm_size(shared, n);
	MPI_Comm_free(&shared);
	return rc;
}
static int gompi_version(char *buf, int *len) {
	return MPI_Get_library_version(buf, len);
}
static int gompi_processor_name(char *buf, int *len) {
	return MPI_Get_processor_name(buf, len);
}
static int gompi_error_string(int code, char *buf, int *len) {
	return MPI_Error_string(code, buf, len);
}
*/
import "C"

import (
	"fmt"
	"runtime"
	"strings"
	"time"
	"unsafe"
)

// Opaque handle types, so that the rest of the package need not import "C".
type (
	cComm    = C.MPI_Comm
	cRequest = C.MPI_Request
	cMessage = C.MPI_Message
	cType    = C.MPI_Datatype
)

// mpiError turns an MPI return code into a Go error with MPI's own text.
func mpiError(what string, rc C.int) error {
	if rc == C.MPI_SUCCESS {
		return nil
	}
	var buf [C.MPI_MAX_ERROR_STRING + 1]C.char
	var n C.int
	msg := fmt.Sprintf("error code %d", int(rc))
	if C.gompi_error_string(rc, &buf[0], &n) == C.MPI_SUCCESS && n > 0 {
		msg = C.GoStringN(&buf[0], n)
	}
	return fmt.Errorf("mpi: %s: %s", what, msg)
}

const (
	cSuccess        = int(C.MPI_SUCCESS)
	threadSingle    = int(C.MPI_THREAD_SINGLE)
	threadFunneled  = int(C.MPI_THREAD_FUNNELED)
	threadSerialzed = int(C.MPI_THREAD_SERIALIZED)
	threadMultiple  = int(C.MPI_THREAD_MULTIPLE)
	anySource       = int(C.MPI_ANY_SOURCE)
	anyTag          = int(C.MPI_ANY_TAG)
	maxCount        = 1<<31 - 1 // MPI counts are C ints
)

func cInitialized() bool {
	var f C.int
	C.MPI_Initialized(&f)
	return f != 0
}

func cFinalized() bool {
	var f C.int
	C.MPI_Finalized(&f)
	return f != 0
}

// startupSlack is the timer slack of MPI_Init's and MPI_Finalize's polling
// sleeps (see gompi_slack_begin). Measured with bench/startup.py at 64
// ranks on 2 cores (bench/README.md): ready 3.2 → 2.6 s.
const startupSlack = 1 * time.Millisecond

func cInit() (provided int, err error) {
	var p C.int
	if rc := C.gompi_init(&p, C.ulong(startupSlack.Nanoseconds())); rc != C.MPI_SUCCESS {
		return 0, fmt.Errorf("mpi: MPI_Init_thread failed with code %d", int(rc))
	}
	if rc := C.gompi_errors_return(C.gompi_comm_world()); rc != C.MPI_SUCCESS {
		return 0, mpiError("MPI_Comm_set_errhandler", rc)
	}
	return int(p), nil
}

func cFinalize() error {
	return mpiError("MPI_Finalize", C.gompi_finalize(C.ulong(startupSlack.Nanoseconds())))
}

func cAbort(code int) { C.MPI_Abort(C.gompi_comm_world(), C.int(code)) }

func cLocalSize(c cComm) (int, error) {
	var n C.int
	if rc := C.gompi_local_size(c, &n); rc != C.MPI_SUCCESS {
		return 0, mpiError("MPI_Comm_split_type", rc)
	}
	return int(n), nil
}

func cCommWorld() cComm { return C.gompi_comm_world() }
func cCommNull() cComm  { return C.gompi_comm_null() }

func cCommRank(c cComm) (int, error) {
	var r C.int
	if rc := C.MPI_Comm_rank(c, &r); rc != C.MPI_SUCCESS {
		return 0, mpiError("MPI_Comm_rank", rc)
	}
	return int(r), nil
}

func cCommSize(c cComm) (int, error) {
	var r C.int
	if rc := C.MPI_Comm_size(c, &r); rc != C.MPI_SUCCESS {
		return 0, mpiError("MPI_Comm_size", rc)
	}
	return int(r), nil
}

// cCommIdup starts a non-blocking duplication. MPI writes the new handle into
// *out when the request completes, so out must be C memory: it is malloc'ed
// here and read (and freed) by cCommIdupResult.
func cCommIdup(c cComm) (*cComm, cRequest, error) {
	out := (*cComm)(C.malloc(C.size_t(unsafe.Sizeof(C.gompi_comm_null()))))
	*out = C.gompi_comm_null()
	var r C.MPI_Request
	if rc := C.MPI_Comm_idup(c, out, &r); rc != C.MPI_SUCCESS {
		C.free(unsafe.Pointer(out))
		return nil, r, mpiError("MPI_Comm_idup", rc)
	}
	return out, r, nil
}

func cCommIdupResult(out *cComm) (cComm, error) {
	c := *out
	C.free(unsafe.Pointer(out))
	if rc := C.gompi_errors_return(c); rc != C.MPI_SUCCESS {
		return c, mpiError("MPI_Comm_set_errhandler", rc)
	}
	return c, nil
}

func cCommFree(c cComm) error {
	return mpiError("MPI_Comm_free", C.MPI_Comm_free(&c))
}

func cRequestNull() cRequest { return C.gompi_request_null() }

// elemType maps the Go element kinds we transfer to MPI datatypes.
type elemType int

const (
	tByte elemType = iota
	tFloat64
	tInt
)

func (t elemType) mpi() cType {
	switch t {
	case tFloat64:
		return C.gompi_double()
	case tInt:
		if unsafe.Sizeof(int(0)) == 4 {
			return C.gompi_int32()
		}
		return C.gompi_int64()
	}
	return C.gompi_byte()
}

func (t elemType) size() int {
	switch t {
	case tFloat64:
		return 8
	case tInt:
		return int(unsafe.Sizeof(int(0)))
	}
	return 1
}

func (t elemType) String() string {
	switch t {
	case tFloat64:
		return "float64"
	case tInt:
		return "int"
	}
	return "byte"
}

// buffer is a Go slice seen as an MPI buffer: a base pointer (nil for an
// empty slice), an element count and type.
type buffer struct {
	p unsafe.Pointer
	n int
	t elemType
}

func (b buffer) ptr() unsafe.Pointer { return b.p }

// pin keeps b's backing array in place while MPI holds its address.
func (b buffer) pin(p *runtime.Pinner) {
	if b.p != nil {
		p.Pin(b.p)
	}
}

func checkCount(what string, n int) error {
	if n > maxCount {
		return fmt.Errorf("mpi: %s: %d elements exceed MPI's limit of %d per message", what, n, maxCount)
	}
	return nil
}

func cIsend(b buffer, dest, tag int, c cComm) (cRequest, error) {
	var r C.MPI_Request
	rc := C.gompi_isend(b.p, C.int(b.n), b.t.mpi(), C.int(dest), C.int(tag), c, &r)
	return r, mpiError("MPI_Isend", rc)
}

func cIrecv(b buffer, src, tag int, c cComm) (cRequest, error) {
	var r C.MPI_Request
	rc := C.gompi_irecv(b.p, C.int(b.n), b.t.mpi(), C.int(src), C.int(tag), c, &r)
	return r, mpiError("MPI_Irecv", rc)
}

func cIbcast(b buffer, root int, c cComm) (cRequest, error) {
	var r C.MPI_Request
	rc := C.MPI_Ibcast(b.p, C.int(b.n), b.t.mpi(), C.int(root), c, &r)
	return r, mpiError("MPI_Ibcast", rc)
}

func cIbarrier(c cComm) (cRequest, error) {
	var r C.MPI_Request
	return r, mpiError("MPI_Ibarrier", C.MPI_Ibarrier(c, &r))
}

// sendPtr returns MPI_IN_PLACE when in is true, else b's pointer.
func sendPtr(b buffer, inPlace bool) unsafe.Pointer {
	if inPlace {
		return C.gompi_in_place()
	}
	return b.p
}

func cIallreduce(send, recv buffer, inPlace bool, op Op, c cComm) (cRequest, error) {
	var r C.MPI_Request
	rc := C.MPI_Iallreduce(sendPtr(send, inPlace), recv.p, C.int(recv.n), recv.t.mpi(), C.gompi_op(C.int(op)), c, &r)
	return r, mpiError("MPI_Iallreduce", rc)
}

func cIreduce(send, recv buffer, inPlace bool, op Op, root int, c cComm) (cRequest, error) {
	var r C.MPI_Request
	rc := C.MPI_Ireduce(sendPtr(send, inPlace), recv.p, C.int(send.n), send.t.mpi(), C.gompi_op(C.int(op)), C.int(root), c, &r)
	return r, mpiError("MPI_Ireduce", rc)
}

// cIgather gathers n elements from every rank; recv matters on root only.
func cIgather(send, recv buffer, n, root int, c cComm) (cRequest, error) {
	var r C.MPI_Request
	t := send.t.mpi()
	rc := C.MPI_Igather(send.p, C.int(n), t, recv.p, C.int(n), t, C.int(root), c, &r)
	return r, mpiError("MPI_Igather", rc)
}

func cIallgather(send, recv buffer, n int, c cComm) (cRequest, error) {
	var r C.MPI_Request
	t := send.t.mpi()
	rc := C.MPI_Iallgather(send.p, C.int(n), t, recv.p, C.int(n), t, c, &r)
	return r, mpiError("MPI_Iallgather", rc)
}

// cIscatter sends n elements to every rank; send matters on root only.
func cIscatter(send, recv buffer, n, root int, c cComm) (cRequest, error) {
	var r C.MPI_Request
	t := recv.t.mpi()
	rc := C.MPI_Iscatter(send.p, C.int(n), t, recv.p, C.int(n), t, C.int(root), c, &r)
	return r, mpiError("MPI_Iscatter", rc)
}

// cTest tests r; when the operation is complete it reports the status
// (source, tag, count in bytes — meaningful for receives only).
func cTest(r *cRequest) (done bool, src, tag, count int, err error) {
	var flag, s, t, n C.int
	// r points into a Request, which holds Go pointers (its Pinner); cgo
	// checks the whole object, so MPI gets a copy of the handle on the
	// stack (MPI_Test sets it to MPI_REQUEST_NULL on completion).
	h := *r
	rc := C.gompi_test(&h, &flag, &s, &t, &n)
	*r = h
	if rc != C.MPI_SUCCESS {
		return false, 0, 0, 0, mpiError("MPI_Test", rc)
	}
	return flag != 0, int(s), int(t), int(n), nil
}

func cImprobe(src, tag int, c cComm) (ok bool, m cMessage, osrc, otag, count int, err error) {
	var flag, s, t, n C.int
	rc := C.gompi_improbe(C.int(src), C.int(tag), c, &flag, &m, &s, &t, &n)
	if rc != C.MPI_SUCCESS {
		return false, m, 0, 0, 0, mpiError("MPI_Improbe", rc)
	}
	return flag != 0, m, int(s), int(t), int(n), nil
}

// cMrecv receives a matched message. It blocks, but only for the transfer
// of a message that has already arrived (or is being sent).
func cMrecv(b []byte, m *cMessage) error {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	return mpiError("MPI_Mrecv", C.gompi_mrecv(p, C.int(len(b)), m))
}

func cWtime() float64 { return float64(C.MPI_Wtime()) }

func cLibraryVersion() string {
	buf := make([]byte, C.MPI_MAX_LIBRARY_VERSION_STRING+1)
	var n C.int
	if C.gompi_version((*C.char)(unsafe.Pointer(&buf[0])), &n) != C.MPI_SUCCESS {
		return ""
	}
	s := string(buf[:n])
	s = strings.TrimRight(s, "\x00")
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

func cProcessorName() string {
	buf := make([]byte, C.MPI_MAX_PROCESSOR_NAME+1)
	var n C.int
	if C.gompi_processor_name((*C.char)(unsafe.Pointer(&buf[0])), &n) != C.MPI_SUCCESS {
		return ""
	}
	return string(buf[:n])
}
