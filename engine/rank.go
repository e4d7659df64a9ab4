package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/traefik/yaegi/interp"

	"github.com/gompi-kernel/gompi-kernel/compile"
	"github.com/gompi-kernel/gompi-kernel/internal/sysmon"
	"github.com/gompi-kernel/gompi-kernel/kernel"
	"github.com/gompi-kernel/gompi-kernel/kernel/display"
	"github.com/gompi-kernel/gompi-kernel/kernel/session"
	"github.com/gompi-kernel/gompi-kernel/kernel/symbols"
	"github.com/gompi-kernel/gompi-kernel/mpi"
	"github.com/gompi-kernel/gompi-kernel/registry"
)

// Rank is what every rank holds alike: its interpreter session and the
// cells' MPI world. Keeping it identical on all ranks is what lets a
// variable defined in one cell exist everywhere.
type Rank struct {
	world  *mpi.World
	sess   *session.Session
	api    *registry.API // the rank-local pyMOR API: objects, FunctionCall, …
	driver *Driver       // the pyMOR API that needs other ranks: Call, EventLoop, …

	// shims are the kernel's own packages (gompi/mpi, gompi/display) as
	// the session has them; compiled code's shims are generated from and
	// bound to them (engine/compiled.go).
	shims  interp.Exports
	loader *compile.Loader // opens plugins: one per process
	args   []string        // os.Args for cells and compiled scripts

	thread *cellThread // runs rank 0's cells (a worker runs them on its loop's goroutine)

	// beforeCell runs before each cell: it gives threads that sysmon
	// started their normal timer slack back (settleSysmon); nil in tests.
	beforeCell func()
	// slack is sysmon's lengthened timer slack; nil if unchanged or in
	// tests.
	slack *sysmon.Slack

	mu  sync.Mutex
	out kernel.Output // where the running (or last) cell's output goes: to the labeller on rank 0, to rank 0 on a worker
}

// NewRank builds this rank's interpreter with the cell-side packages
// pre-imported. Its World is on communicators NewFabric made.
func NewRank(f *Fabric, args []string) (*Rank, error) {
	world, err := f.NewCellWorld()
	if err != nil {
		return nil, fmt.Errorf("cells' MPI world: %w", err)
	}
	r := &Rank{world: world, loader: compile.NewLoader(""), args: args, thread: newCellThread()}
	r.api = registry.NewAPI(registry.New(), nil, nil, func() string { return rankInfo(f.Rank(), f.Size()) })
	r.driver = newDriver(f.Rank(), r.api.Info, streamWriter{r, "stdout"})
	// One package mpi for cells: MPI itself, the registry and the driver
	// API, as pyMOR has them all in pymor.tools.mpi.
	pkg := world.Symbols()
	for k, v := range r.api.Symbols() {
		pkg[k] = v
	}
	for k, v := range r.driver.symbols() {
		pkg[k] = v
	}
	// gonum and gonum/plot, compiled: numeric work in cells runs at
	// compiled speed.
	exports := symbols.Exports()
	exports["gompi/mpi/mpi"] = pkg
	exports["gompi/display/display"] = display.New(displayOutput{r}).Symbols()
	r.shims = interp.Exports{"gompi/mpi/mpi": pkg, "gompi/display/display": exports["gompi/display/display"]}
	sess, err := session.New(session.Options{
		Rank:      f.Rank(),
		Size:      f.Size(),
		Exports:   exports,
		PreImport: []string{"gompi/mpi", "gompi/display"},
		// Inspection reads the doc comments of the methods bound above.
		Docs: map[string]session.DocSource{
			"gompi/mpi":     {Dirs: []string{"mpi", "registry", "engine"}, Recvs: []string{"World", "API", "Driver"}},
			"gompi/display": {Dirs: []string{"kernel/display"}, Recvs: []string{"Display"}},
		},
		Stdout: streamWriter{r, "stdout"},
		Stderr: streamWriter{r, "stderr"},
		Args:   args,
		Input: func(prompt string, password bool) (string, error) {
			if out := r.output(); out != nil {
				return out.Input(prompt, password)
			}
			return "", errors.New("no cell is running")
		},
	})
	if err != nil {
		return nil, fmt.Errorf("interpreter: %w", err)
	}
	r.sess = sess
	// Compiled code's goroutines and callbacks report recovered panics
	// through the session, as the interpreter's do.
	r.shims[compile.GuardKey] = compile.GuardSymbols(sess.GoPanic)
	r.api.SetInterpreter(sess, sess)
	return r, nil
}

// Session is this rank's interpreter (rank 0 answers completion and
// inspection from it: all ranks hold the same definitions).
func (r *Rank) Session() *session.Session { return r.sess }

// Execute runs one cell on this rank, sending its output to out; label
// names the cell in errors ("cell 6").
func (r *Rank) Execute(ctx context.Context, code, label string, out kernel.Output) doneReport {
	if r.beforeCell != nil {
		r.beforeCell()
	}
	r.setOutput(out)
	r.bind(ctx)
	start := time.Now()
	res := r.sess.ExecuteCell(ctx, label, code)
	if ctx.Err() != nil {
		// The interpreter returns from an interrupted cell at once; an MPI
		// call it left behind notices a moment later and only then marks
		// the world dirty. Wait for it, or the renewal would be skipped.
		r.world.Quiesce(5 * time.Second)
	}
	return doneReport{
		Data:    res.Data,
		Err:     res.Err,
		Dirty:   r.world.Dirty(),
		Where:   r.world.Abandoned(),
		Seconds: time.Since(start).Seconds(),
	}
}

// bind makes every blocking call a cell can make obey ctx.
func (r *Rank) bind(ctx context.Context) {
	r.world.Bind(ctx)
	r.api.Bind(ctx)
	r.driver.bind(ctx)
}

// Invoke runs fn(args) on this rank for rank 0's Call, as a failed cell
// would report it.
func (r *Rank) Invoke(ctx context.Context, fn string, args []any) (any, *session.Error) {
	r.bind(ctx)
	if fn == "Info" && len(args) == 0 {
		// pyMOR's call(mpi_info): every rank prints its line.
		r.driver.Info()
		return nil, nil
	}
	v, err := r.api.Invoke(fn, args)
	if ctx.Err() != nil {
		r.world.Quiesce(5 * time.Second)
		return nil, &session.Error{Name: "Interrupted", Value: fmt.Sprintf("Call(%q) interrupted", fn)}
	}
	if err != nil {
		return nil, &session.Error{Name: "CallError", Value: err.Error()}
	}
	return v, nil
}

// Renew replaces the cells' communicator; collective.
func (r *Rank) Renew() error { return r.world.Renew() }

// Reset gives this rank a fresh interpreter.
func (r *Rank) Reset() error { return r.sess.Reset() }

func (r *Rank) setOutput(out kernel.Output) {
	r.mu.Lock()
	r.out = out
	r.mu.Unlock()
}

func (r *Rank) output() kernel.Output {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out
}

// displayOutput hands package display's output to whichever cell is current.
type displayOutput struct{ r *Rank }

func (s displayOutput) Display(data, md map[string]any, id string, update bool) {
	if out := s.r.output(); out != nil {
		out.Display(kernel.Display{Data: data, Metadata: md, ID: id, Update: update})
	}
}

func (s displayOutput) Clear(wait bool) {
	if out := s.r.output(); out != nil {
		out.Clear(wait)
	}
}

// streamWriter hands the interpreter's output to whichever cell is current.
// Output of a goroutine that outlives its cell goes with the latest cell.
type streamWriter struct {
	r    *Rank
	name string
}

func (w streamWriter) Write(p []byte) (int, error) {
	if out := w.r.output(); out != nil {
		out.Stream(w.name, string(p), nil)
	}
	return len(p), nil
}
