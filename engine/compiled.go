package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/traefik/yaegi/interp"

	"github.com/gompi-kernel/gompi-kernel/compile"
	"github.com/gompi-kernel/gompi-kernel/kernel"
	"github.com/gompi-kernel/gompi-kernel/kernel/session"
)

// Compiled code in cells (package compile): a %%compile cell, or an
// ordinary cell importing a package that is not compiled into the kernel,
// is built into a Go plugin here on rank 0, once; the plugin's bytes travel
// to every worker in a cmdLoad command (no shared file system is assumed),
// and every rank binds it into its session (Rank.load, engine/load.go).

// builds is rank 0's plugin builder and the build in progress, which an
// interrupt stops.
type builds struct {
	shims interp.Exports
	log   *slog.Logger

	mu      sync.Mutex
	builder *compile.Builder   // made at the first build: a kernel that compiles nothing never reads its build info
	cancel  context.CancelFunc // stops the build in progress; nil when none runs
	open    map[string]bool    // artifact keys every rank has loaded
}

func newBuilds(shims interp.Exports, log *slog.Logger) *builds {
	return &builds{shims: shims, log: log, open: map[string]bool{}}
}

// everywhere reports whether every rank has opened the plugin of key.
func (b *builds) everywhere(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.open[key]
}

// loaded records that every rank has opened the plugin of key.
func (b *builds) loaded(key string) {
	b.mu.Lock()
	b.open[key] = true
	b.mu.Unlock()
}

// do runs f with the kernel's Builder under a context that Interrupt
// cancels: the kernel core answers interrupt_request by calling
// Interrupt, it does not cancel the cell's context.
func (b *builds) do(ctx context.Context, f func(context.Context, *compile.Builder) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b.mu.Lock()
	if b.builder == nil {
		bl, err := compile.NewBuilder(compile.Options{Shims: b.shims, Log: b.log})
		if err != nil {
			b.mu.Unlock()
			return fmt.Errorf("plugin builder: %w", err)
		}
		b.builder = bl
	}
	bl := b.builder
	b.cancel = cancel
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.cancel = nil
		b.mu.Unlock()
	}()
	return f(ctx, bl)
}

// interrupt stops the build in progress, if any.
func (b *builds) interrupt() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cancel != nil {
		b.cancel()
	}
}

// compileCell is a %%compile cell: built on rank 0, loaded on every rank;
// its output says what it defined. code keeps the cell's line count (the
// magic line is an empty line), so compiler positions are the cell's own.
func (c *Coordinator) compileCell(ctx context.Context, code string, out kernel.Output) kernel.Outcome {
	p := newProgress(out, "compiling")
	var a *compile.Artifact
	err := c.builds.do(ctx, func(ctx context.Context, b *compile.Builder) (err error) {
		a, err = b.Compile(ctx, code, p.tick)
		return err
	})
	if err != nil {
		p.fail()
		return kernel.Outcome{Err: buildError(err)}
	}
	return c.finishBuild(ctx, a, p, out)
}

// buildImports builds and loads, before an ordinary cell runs, the
// packages it imports that the kernel does not have (third-party modules,
// through the module proxy). A zero Outcome means the cell may run.
func (c *Coordinator) buildImports(ctx context.Context, code string, out kernel.Output) kernel.Outcome {
	missing := compile.MissingImports(code, c.rank.Session().HasPackage)
	if len(missing) == 0 {
		return kernel.Outcome{}
	}
	p := newProgress(out, "building "+strings.Join(missing, ", "))
	var a *compile.Artifact
	err := c.builds.do(ctx, func(ctx context.Context, b *compile.Builder) (err error) {
		a, err = b.Packages(ctx, missing, p.tick)
		return err
	})
	if err != nil {
		p.fail()
		return kernel.Outcome{Err: buildError(err)}
	}
	return c.finishBuild(ctx, a, p, out)
}

// finishBuild loads a built artifact on every rank and replaces the
// progress line (or prints, if the build was quick) with what it defined.
func (c *Coordinator) finishBuild(ctx context.Context, a *compile.Artifact, p *progressLine, out kernel.Output) kernel.Outcome {
	start := time.Now()
	res := c.load(ctx, a, out)
	c.log.Debug("plugin loaded on every rank", "key", a.Key[:16], "cached", a.Cached, "after", time.Since(start))
	if res.Err != nil {
		p.fail()
		return res
	}
	p.end(summary(a))
	return kernel.Outcome{Seconds: res.Seconds} // each rank's load, for %time
}

// load sends the artifact to every worker and binds it on every rank. The
// plugin's bytes follow the command raw (Fabric.sendBlob), and only if
// some rank has not opened that plugin yet: a plugin stays open in its
// process, and the Loaders find it by key.
func (c *Coordinator) load(ctx context.Context, a *compile.Artifact, out kernel.Output) kernel.Outcome {
	meta := *a
	meta.Plugin = nil
	blob, err := meta.MarshalBinary()
	if err != nil {
		return kernel.Outcome{Err: kernelError("LoadError", err.Error())}
	}
	ship := !c.builds.everywhere(a.Key)
	res := c.runCommand(ctx, command{Kind: cmdLoad, Blob: blob, More: ship}, out,
		func(ctx context.Context, out kernel.Output) doneReport {
			if ship {
				// Not cancelled by an interrupt: the workers are
				// already waiting for these bytes, and take them at once.
				if err := c.fabric.sendBlob(context.WithoutCancel(ctx), a.Plugin); err != nil {
					return doneReport{Err: kernelError("LoadError", err.Error())}
				}
			}
			return c.rank.load(ctx, a, out)
		})
	if res.Err == nil {
		c.builds.loaded(a.Key)
	}
	return res
}

// summary is what a build reports: what was defined, whether it came from
// the plugin cache (no go command ran), and the builder's notes.
func summary(a *compile.Artifact) string {
	s := a.Summary()
	if a.Cached {
		s += " (cached)"
	}
	for _, n := range a.Notes {
		s += "\nnote: " + n
	}
	return s
}

// goMagic is %go get MODULE@VERSION and %go replace MODULE => DIR: they
// change what later builds resolve.
func (c *Coordinator) goMagic(ctx context.Context, args []string, out kernel.Output) kernel.Outcome {
	const usage = "usage: %go get MODULE@VERSION, or %go replace MODULE => DIR"
	if len(args) == 0 {
		return kernel.Outcome{Err: kernelError("UsageError", usage)}
	}
	var msg string
	var err error
	switch args[0] {
	case "get":
		if len(args) != 2 {
			return kernel.Outcome{Err: kernelError("UsageError", usage)}
		}
		err = c.builds.do(ctx, func(ctx context.Context, b *compile.Builder) error {
			v, err := b.Get(ctx, args[1])
			mod, _, _ := strings.Cut(args[1], "@")
			msg = fmt.Sprintf("%s %s: later imports and %%%%compile cells use this version", mod, v)
			return err
		})
	case "replace":
		mod, dir, ok := strings.Cut(strings.Join(args[1:], " "), "=>")
		mod, dir = strings.TrimSpace(mod), strings.TrimSpace(dir)
		if !ok || mod == "" || dir == "" {
			return kernel.Outcome{Err: kernelError("UsageError", usage)}
		}
		err = c.builds.do(ctx, func(_ context.Context, b *compile.Builder) error {
			msg = fmt.Sprintf("%s => %s: later builds use this directory", mod, dir)
			return b.Replace(mod, dir)
		})
	default:
		return kernel.Outcome{Err: kernelError("UsageError", usage)}
	}
	if err != nil {
		return kernel.Outcome{Err: buildError(err)}
	}
	out.Stream("stdout", msg+"\n", nil)
	return kernel.Outcome{}
}

// buildError is the ONE error a failed build gives the frontend.
func buildError(err error) *session.Error {
	var ce *compile.CompileError
	var te *compile.ToolchainError
	var xe *compile.ConflictError
	switch {
	case errors.Is(err, context.Canceled):
		return kernelError(session.ErrInterrupted, "interrupted: the build was stopped")
	case errors.As(err, &ce):
		return kernelError(session.ErrCompile, ce.Error())
	case errors.As(err, &te):
		return kernelError("ToolchainError", te.Error())
	case errors.As(err, &xe):
		return kernelError("VersionConflict", xe.Error())
	}
	return kernelError("BuildError", err.Error())
}

// kernelError is an error with the traceback a frontend shows, drawn as
// the session draws a cell's.
func kernelError(name, value string) *session.Error {
	e := &session.Error{Name: name, Value: value}
	e.Traceback = session.Fold("", []session.Group{{Err: e}}, nil).Traceback
	return e
}

// progressLine is what a build longer than a second shows: the elapsed
// seconds, updated in place through a display id, and at the end replaced
// by the result. A quicker build shows only its result.
type progressLine struct {
	out  kernel.Output
	what string
	id   string

	mu    sync.Mutex
	start time.Time
	shown bool // the display exists: later texts update it
	ended bool // ticks after the end are dropped
}

func newProgress(out kernel.Output, what string) *progressLine {
	return &progressLine{out: out, what: what, start: time.Now(), id: fmt.Sprintf("gompi-build-%x", time.Now().UnixNano())}
}

// tick is the Builder's Progress: called from another goroutine about
// once a second while a go command runs.
func (p *progressLine) tick(elapsed time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended || elapsed < time.Second {
		return
	}
	p.show(fmt.Sprintf("%s… %d s", p.what, int(elapsed.Seconds())), map[string]any{"progress": true})
}

// show displays text in the progress line; ticks carry {"progress": true}
// in their metadata, so that a terminal, which cannot redraw in place,
// can leave them out. p.mu is held.
func (p *progressLine) show(text string, md map[string]any) {
	p.out.Display(kernel.Display{Data: map[string]any{"text/plain": text}, Metadata: md, ID: p.id, Update: p.shown})
	p.shown = true
}

// end replaces the progress line with the result: the line is cleared
// (it is the cell's only output so far: the build comes before the cell
// runs) and the result printed. Not an update of the line: jupyter console
// ignores update_display_data, and its user would never see the result.
func (p *progressLine) end(result string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ended = true
	if p.shown {
		p.out.Clear(false)
	}
	p.out.Stream("stdout", result+"\n", nil)
}

// fail ends a progress line that was shown: the error itself comes in the
// cell's error reply.
func (p *progressLine) fail() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ended = true
	if p.shown {
		p.show(fmt.Sprintf("%s: failed after %d s", p.what, int(time.Since(p.start).Seconds())), nil)
	}
}
