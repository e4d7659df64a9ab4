package compile

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/traefik/yaegi/interp"
)

// Options configure a Builder.
type Options struct {
	// CacheDir holds built plugins and the module files they need;
	// "" means os.UserCacheDir()/gompi-kernel.
	CacheDir string
	// Go is the go command; "" means "go" looked up on PATH.
	Go string
	// Env is the go command's environment; nil means os.Environ().
	// GOPROXY, GOFLAGS, GONOSUMDB, GOPRIVATE, GOTOOLCHAIN… are honoured.
	Env []string
	// Shims are the kernel's packages that compiled code may import
	// ("gompi/mpi", "gompi/display"), keyed like session.Options.Exports.
	// Their symbols shape the generated shims (see shim); the Loader binds
	// the shims to the values given to it.
	Shims interp.Exports
	// Log receives one line per build; nil discards.
	Log *slog.Logger
}

// Builder builds plugins from compiled cells and third-party packages.
// It runs on rank 0 only; the Artifact's bytes go to the other ranks.
// Methods may be called from several goroutines.
type Builder struct {
	opts Options
	host host

	mu      sync.Mutex
	pins    map[string]string // module path -> version, from %go get
	local   map[string]string // module path -> directory, from %go replace
	goOK    bool              // the toolchain was checked and matches
	goRuns  int               // go commands started, for tests and logs
	working sync.Mutex        // one build at a time: builds share go.sum
}

// Artifact is a built plugin and what it provides: everything another
// rank needs to load it, with no shared file system.
type Artifact struct {
	// Key identifies the content (source, toolchain, dependency
	// versions); equal keys are the same plugin.
	Key string
	// Package is the import path under which the plugin's symbols are
	// given to the interpreter: a generated "gompi/cell_…" for a cell;
	// for third-party packages, Packages lists their real import paths.
	Package  string
	Packages []string
	// Defined lists, in source order, what a cell declared.
	Defined []Decl
	// Main: the code declares func main (a script).
	Main bool
	// Notes are things worth telling the user (shim symbols left out…).
	Notes []string
	// Plugin is the shared object (go build -buildmode=plugin).
	Plugin []byte `json:"-"`
	// Cached is set when the artifact came from the cache, no go command
	// having run.
	Cached bool `json:"-"`
}

// Summary is the line a %%compile cell shows: what it defined.
func (a *Artifact) Summary() string {
	if a.Package == "" {
		return "compiled " + strings.Join(a.Packages, ", ")
	}
	var parts []string
	for _, d := range a.Defined {
		parts = append(parts, d.String())
	}
	if len(parts) == 0 {
		return "compiled: nothing declared"
	}
	return "compiled: " + strings.Join(parts, ", ")
}

// MarshalBinary encodes the artifact for sending to other ranks.
func (a *Artifact) MarshalBinary() ([]byte, error) {
	meta, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("compile: encode artifact: %w", err)
	}
	out := make([]byte, 0, 8+len(meta)+len(a.Plugin))
	out = append(out, byte(len(meta)>>24), byte(len(meta)>>16), byte(len(meta)>>8), byte(len(meta)))
	out = append(out, meta...)
	return append(out, a.Plugin...), nil
}

// UnmarshalBinary decodes what MarshalBinary made.
func (a *Artifact) UnmarshalBinary(b []byte) error {
	if len(b) < 4 {
		return errors.New("compile: decode artifact: too short")
	}
	n := int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3])
	if n > len(b)-4 {
		return errors.New("compile: decode artifact: truncated")
	}
	var x Artifact
	if err := json.Unmarshal(b[4:4+n], &x); err != nil {
		return fmt.Errorf("compile: decode artifact: %w", err)
	}
	x.Plugin = append([]byte(nil), b[4+n:]...)
	*a = x
	return nil
}

// NewBuilder reads the running binary's build information, which every
// plugin must match.
func NewBuilder(opts Options) (*Builder, error) {
	if opts.CacheDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("compile: cache directory: %w", err)
		}
		opts.CacheDir = filepath.Join(dir, "gompi-kernel")
	}
	if opts.Go == "" {
		opts.Go = "go"
	}
	if opts.Env == nil {
		opts.Env = os.Environ()
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	h, err := readHost()
	if err != nil {
		return nil, err
	}
	return &Builder{opts: opts, host: h, pins: map[string]string{}, local: map[string]string{}}, nil
}

// GoRuns is the number of go commands the Builder started: a build served
// from the cache starts none.
func (b *Builder) GoRuns() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.goRuns
}

// Progress is called about once a second while a build runs, with the
// time since it started, so that the kernel can show a progress line.
type Progress func(elapsed time.Duration)

// Compile builds a %%compile cell: Go declarations (imports, funcs, types
// with methods, consts, vars), without a package clause. A script's
// "package main" is accepted. Errors: *CompileError (positions are the
// cell's line:column), *ToolchainError, *ConflictError, or an error
// wrapping ctx.Err() when the build was interrupted.
func (b *Builder) Compile(ctx context.Context, src string, progress Progress) (*Artifact, error) {
	names := shimNames(b.opts.Shims)
	names[guardPath] = guardName // see guard.go
	plan, err := planCell(src, names)
	if err != nil {
		return nil, err
	}
	var shims []*shim
	shimPaths := map[string]string{}
	var notes []string
	for _, ip := range append(append([]string(nil), plan.imports...), plan.auto...) {
		name, ok := names[ip]
		if !ok || shimPaths[ip] != "" {
			continue
		}
		syms := b.opts.Shims[ip+"/"+name]
		if ip == guardPath {
			syms = GuardSymbols(nil) // the types; the loader binds the kernel's
		}
		s := newShim(ip, name, usedSymbols(plan, ip, name, syms), b.host.mainPath)
		shims = append(shims, s)
		shimPaths[ip] = s.path
		for _, sk := range s.skipped {
			notes = append(notes, fmt.Sprintf("%s.%s is not available to compiled code", name, sk))
		}
	}
	// The files are generated with a placeholder for the package path,
	// which the content key decides: the key covers what is built, not
	// only the cell, so a change in the generator is a change of key.
	const placeholder = "gompi/cell_KEYKEYKEYKEYKEYK"
	files := map[string]string{
		path.Base(placeholder) + "/cell.go":          plan.cellSource(shimPaths, names),
		path.Base(placeholder) + "/gompi_exports.go": plan.exportsSource(placeholder, shims),
	}
	for _, s := range shims {
		files[strings.TrimPrefix(s.path, genModule+"/")+"/"+s.name+".go"] = s.src
	}
	key := b.key("cell", src, filesDigest(files))
	pkg := genModule + "/cell_" + key[:16]
	final := map[string]string{}
	for name, content := range files {
		final[strings.ReplaceAll(name, path.Base(placeholder), path.Base(pkg))] = strings.ReplaceAll(content, path.Base(placeholder), path.Base(pkg))
	}
	a := &Artifact{Key: key, Package: pkg, Defined: plan.decls, Main: plan.hasMain, Notes: notes}
	return b.build(ctx, a, final, nil, progress)
}

// filesDigest is a stable text standing for generated files in a key.
func filesDigest(files map[string]string) string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	sum := sha256.New()
	for _, n := range names {
		fmt.Fprintf(sum, "%s\n%d\n%s", n, len(files[n]), files[n])
	}
	return hex.EncodeToString(sum.Sum(nil))
}

// Packages builds one plugin holding the packages at the given import
// paths (third-party modules a cell imports) with their exported symbols,
// as yaegi extract generates them. Modules are resolved through the module
// proxy (the go command's environment is honoured); %go get pins apply.
func (b *Builder) Packages(ctx context.Context, paths []string, progress Progress) (*Artifact, error) {
	paths = append([]string(nil), paths...)
	sort.Strings(paths)
	key := b.key("packages", strings.Join(paths, "\n"), packagesMain+extractMain)
	pkg := genModule + "/pkgs_" + key[:16]
	a := &Artifact{Key: key, Packages: paths}
	files := map[string]string{
		path.Base(pkg) + "/main.go": packagesMain,
		"gompi_extract/main.go":     extractMain,
	}
	pre := [][]string{append([]string{"run", "-mod=mod", "./gompi_extract", path.Base(pkg)}, paths...)}
	return b.build(ctx, a, files, pre, progress)
}

// packagesMain is the main package of a third-party plugin; the files
// extract writes fill Symbols in their init functions.
const packagesMain = `// Package main is generated: third-party packages for the interpreter.
package main

import "reflect"

// Symbols is filled by the generated symbol files.
var Symbols = map[string]map[string]reflect.Value{}

// GompiSymbols is what the kernel looks up.
var GompiSymbols = Symbols

// GompiShims: third-party packages use no kernel package.
var GompiShims = map[string]map[string]any{}
`

// extractMain generates symbol files with yaegi's extract library; it runs
// inside the generated module so that the packages resolve through it.
const extractMain = `// Command gompi_extract writes yaegi symbol files for import paths.
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/traefik/yaegi/extract"
)

func main() {
	e := extract.Extractor{Dest: "main"}
	for i, p := range os.Args[2:] {
		var buf bytes.Buffer
		if _, err := e.Extract(p, "", &buf); err != nil {
			fmt.Fprintf(os.Stderr, "package %s: %v\n", p, err)
			os.Exit(1)
		}
		if err := os.WriteFile(filepath.Join(os.Args[1], fmt.Sprintf("symbols_%d.go", i)), buf.Bytes(), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
`

// key is the content key: what is built, the host it must match and the
// pins that choose module versions. The version in it changes whenever
// the way files are built changes in a way the generated files do not
// show (work directory, placeholder substitution), so that stale cached
// plugins are not reused.
func (b *Builder) key(kind, src, extra string) string {
	sum := sha256.New()
	fmt.Fprintf(sum, "gompi-kernel plugin v3\n%s\n%s\n", kind, b.host.fingerprint())
	b.mu.Lock()
	pins := make([]string, 0, len(b.pins))
	for m, v := range b.pins {
		pins = append(pins, m+"@"+v)
	}
	locals := make([]string, 0, len(b.local))
	for m, dir := range b.local {
		locals = append(locals, m+"=>"+dir)
	}
	b.mu.Unlock()
	sort.Strings(pins)
	sort.Strings(locals)
	for _, l := range locals {
		// The directory's content, so that an edit is a new build.
		m, dir, _ := strings.Cut(l, "=>")
		fmt.Fprintf(sum, "local %s %s %s\n", m, dir, dirDigest(dir))
	}
	fmt.Fprintf(sum, "%q\n%d\n%s\n%s", pins, len(src), src, extra)
	return hex.EncodeToString(sum.Sum(nil))
}

// build returns the cached plugin for a.Key or builds it from files in a
// fresh generated module: pre are go commands to run first (generators),
// then go build -buildmode=plugin of the package whose directory is the
// first element of a.Package's or the generator's output.
func (b *Builder) build(ctx context.Context, a *Artifact, files map[string]string, pre [][]string, progress Progress) (*Artifact, error) {
	plugins := filepath.Join(b.opts.CacheDir, "plugins")
	so := filepath.Join(plugins, a.Key+".so")
	if data, err := os.ReadFile(so); err == nil {
		if meta, err := os.ReadFile(filepath.Join(plugins, a.Key+".json")); err == nil {
			var cached Artifact
			if json.Unmarshal(meta, &cached) == nil && cached.Key == a.Key {
				cached.Plugin, cached.Cached = data, true
				b.opts.Log.Info("plugin from cache", "key", a.Key[:16])
				return &cached, nil
			}
		}
	}
	if err := b.checkToolchain(ctx); err != nil {
		return nil, err
	}
	if err := b.checkPins(); err != nil {
		return nil, err
	}
	b.working.Lock()
	defer b.working.Unlock()
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		return nil, fmt.Errorf("compile: cache: %w", err)
	}
	work, unlock, err := b.workDir(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	b.mu.Lock()
	pins := make(map[string]string, len(b.pins))
	for k, v := range b.pins {
		pins[k] = v
	}
	b.mu.Unlock()
	b.mu.Lock()
	local := make(map[string]string, len(b.local))
	for k, v := range b.local {
		local[k] = v
	}
	b.mu.Unlock()
	files["go.mod"] = b.host.goMod(pins, local)
	for name, content := range files {
		p := filepath.Join(work, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, fmt.Errorf("compile: write %s: %w", name, err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return nil, fmt.Errorf("compile: write %s: %w", name, err)
		}
	}
	start := time.Now()
	if progress != nil {
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					progress(time.Since(start))
				}
			}
		}()
	}
	dir := path.Base(a.Package)
	if a.Package == "" {
		dir = "pkgs_" + a.Key[:16]
	}
	for _, args := range pre {
		if out, err := b.goCmd(ctx, work, args...); err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("compile: build interrupted: %w", ctx.Err())
			}
			if cerr := b.conflicts(ctx, work, pins); cerr != nil {
				return nil, cerr
			}
			return nil, fmt.Errorf("compile: resolving %s: %s", strings.Join(a.Packages, ", "), strings.TrimSpace(out))
		}
	}
	tmp := filepath.Join(work, "plugin.so")
	args := []string{"build", "-buildmode=plugin", "-mod=mod", "-buildvcs=false"}
	args = append(args, b.host.flags...)
	args = append(args, "-o", tmp, "./"+dir)
	out, err := b.goCmd(ctx, work, args...)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("compile: build interrupted: %w", ctx.Err())
	}
	if cerr := b.conflicts(ctx, work, pins); cerr != nil {
		return nil, cerr
	}
	if err != nil {
		ce := parseBuildOutput(out)
		if len(ce.Errors) == 0 && len(ce.Other) == 0 {
			return nil, fmt.Errorf("compile: go build: %w", err)
		}
		return nil, ce
	}
	data, err := os.ReadFile(tmp)
	if err != nil {
		return nil, fmt.Errorf("compile: read plugin: %w", err)
	}
	_ = os.Remove(tmp) // the cache keeps its copy
	a.Plugin = data
	b.opts.Log.Info("plugin built", "key", a.Key[:16], "seconds", time.Since(start).Seconds(), "bytes", len(data))
	if err := b.store(a); err != nil {
		b.opts.Log.Warn("plugin cache not updated", "err", err)
	}
	return a, nil
}

// store puts a built artifact in the cache.
func (b *Builder) store(a *Artifact) error {
	plugins := filepath.Join(b.opts.CacheDir, "plugins")
	meta, err := json.Marshal(a)
	if err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(plugins, a.Key+".so"), a.Plugin); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(plugins, a.Key+".json"), meta)
}

// workDir returns the generated module's directory, emptied but for its
// go.sum, and locked against other processes sharing the cache.
//
// It is the same directory for every build on purpose: compiled export
// data records source file names, and the runtime accepts a package in
// two plugins (a shim both import) only if its hash, export data
// included, is identical. A fresh directory per build would make the
// second plugin fail to load.
func (b *Builder) workDir(ctx context.Context) (string, func(), error) {
	work := filepath.Join(b.opts.CacheDir, "module")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return "", nil, fmt.Errorf("compile: work directory: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(b.opts.CacheDir, "module.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", nil, fmt.Errorf("compile: lock: %w", err)
	}
	// Another kernel sharing the cache may be building: wait for it, but
	// let an interrupt end the wait.
	for {
		err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			lock.Close()
			return "", nil, fmt.Errorf("compile: lock: %w", err)
		}
		select {
		case <-ctx.Done():
			lock.Close()
			return "", nil, fmt.Errorf("compile: build interrupted while another build held %s: %w", work, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	unlock := func() {
		_ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
		lock.Close()
	}
	entries, err := os.ReadDir(work)
	if err != nil {
		unlock()
		return "", nil, fmt.Errorf("compile: work directory: %w", err)
	}
	for _, e := range entries {
		if e.Name() == "go.sum" {
			continue // keeps the hashes earlier builds verified
		}
		if err := os.RemoveAll(filepath.Join(work, e.Name())); err != nil {
			unlock()
			return "", nil, fmt.Errorf("compile: clean work directory: %w", err)
		}
	}
	return work, unlock, nil
}

func writeAtomic(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), name)
}

// env is the go command's environment: the user's, plus the settings of
// the host that must match, with workspaces off (the generated module is
// its own world).
func (b *Builder) env() []string {
	env := append([]string(nil), b.opts.Env...)
	for _, kv := range b.host.env {
		if !strings.HasSuffix(kv, "=") {
			env = append(env, kv)
		}
	}
	// -mod=mod also for the go list that generators run through go/build:
	// imports resolve and go.sum fills as in the build itself.
	// The user's other GOFLAGS stay (-modcacherw, -buildvcs, …); a -mod
	// of theirs is replaced (a generated module has no vendor directory).
	flags := []string{"-mod=mod"}
	for _, kv := range env {
		if strings.HasPrefix(kv, "GOFLAGS=") {
			flags = flags[:1]
			for _, f := range strings.Fields(kv[len("GOFLAGS="):]) {
				if !strings.HasPrefix(f, "-mod=") && !strings.HasPrefix(f, "--mod=") {
					flags = append(flags, f)
				}
			}
		}
	}
	return append(env, "GOWORK=off", "CGO_ENABLED=1", "GOFLAGS="+strings.Join(flags, " "))
}

// goCmd runs the go command in dir and returns its combined output. An
// interrupt (ctx) kills the go command and the compilers it started.
func (b *Builder) goCmd(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, b.opts.Go, args...)
	cmd.Dir = dir
	cmd.Env = b.env()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	b.mu.Lock()
	b.goRuns++
	b.mu.Unlock()
	err := cmd.Run()
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) && ctx.Err() == nil {
			return out.String(), &ToolchainError{Want: b.host.goVersion, Path: b.opts.Go, Err: err}
		}
	}
	return out.String(), err
}

// checkToolchain makes sure the go command is the toolchain that built the
// host (GOTOOLCHAIN in the environment may select it).
func (b *Builder) checkToolchain(ctx context.Context) error {
	b.mu.Lock()
	ok := b.goOK
	b.mu.Unlock()
	if ok {
		return nil
	}
	goPath, err := lookPath(b.opts.Go, b.opts.Env)
	if err != nil {
		return &ToolchainError{Want: b.host.goVersion, Path: b.opts.Go, Err: err}
	}
	out, err := b.goCmd(ctx, os.TempDir(), "env", "GOVERSION")
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("compile: interrupted: %w", ctx.Err())
		}
		var te *ToolchainError
		if errors.As(err, &te) {
			return te
		}
		return &ToolchainError{Want: b.host.goVersion, Path: goPath, Found: "unusable (" + strings.TrimSpace(out) + ")", Err: err}
	}
	found := strings.TrimSpace(out)
	if found != b.host.goVersion {
		return &ToolchainError{Want: b.host.goVersion, Path: goPath, Found: found}
	}
	b.mu.Lock()
	b.goOK = true
	b.mu.Unlock()
	return nil
}

// lookPath finds the go command on the PATH of env (which the go command
// will run with), not necessarily the kernel's own.
func lookPath(name string, env []string) (string, error) {
	if strings.ContainsRune(name, filepath.Separator) {
		if _, err := os.Stat(name); err != nil {
			return "", err
		}
		return name, nil
	}
	pathVar := ""
	for _, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			pathVar = kv[len("PATH="):]
		}
	}
	for _, dir := range filepath.SplitList(pathVar) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in PATH=%q", name, pathVar)
}

// checkPins refuses a pin of a module compiled into the kernel at another
// version before anything runs.
func (b *Builder) checkPins() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for m, v := range b.pins {
		if d, ok := b.host.dep(m); ok && d.RepPath == "" && d.Version != v {
			return &ConflictError{Module: m, Kernel: d.Version, Wanted: v, By: "%go get " + m + "@" + v}
		}
	}
	return nil
}

// conflicts compares the generated module's requirements after the go
// command ran with the host's versions: the go command raises a version
// when a new module needs more, and such a plugin would not load.
func (b *Builder) conflicts(ctx context.Context, work string, pins map[string]string) error {
	gomod, err := os.ReadFile(filepath.Join(work, "go.mod"))
	if err != nil {
		return nil
	}
	reqs := requirements(string(gomod))
	mods := make([]string, 0, len(reqs))
	for m := range reqs {
		mods = append(mods, m)
	}
	sort.Strings(mods)
	var found []*ConflictError
	graph := ""
	for _, m := range mods {
		d, ok := b.host.dep(m)
		if !ok || d.RepPath != "" || reqs[m] == d.Version {
			continue
		}
		if graph == "" {
			graph, _ = b.goCmd(ctx, work, "mod", "graph")
		}
		by := "a module this code uses"
		if v, pinned := pins[m]; pinned && v == reqs[m] {
			by = "%go get " + m + "@" + v
		}
		for _, line := range strings.Split(graph, "\n") {
			f := strings.Fields(line)
			if len(f) == 2 && f[1] == m+"@"+reqs[m] && !strings.HasPrefix(f[0], genModule) {
				by = f[0]
				break
			}
		}
		found = append(found, &ConflictError{Module: m, Kernel: d.Version, Wanted: reqs[m], By: by})
	}
	if len(found) == 0 {
		return nil
	}
	// Report the root: a conflict not caused by another raised module
	// (x/sync raised because x/text was raised names x/text's).
	raised := map[string]bool{}
	for _, c := range found {
		raised[c.Module] = true
	}
	root := found[0]
	for _, c := range found {
		if !raised[strings.Split(c.By, "@")[0]] {
			root = c
			break
		}
	}
	for _, c := range found {
		if c != root {
			root.Also = append(root.Also, fmt.Sprintf("%s %s → %s", c.Module, c.Kernel, c.Wanted))
		}
	}
	return root
}

// Get pins module@version for later builds (%go get): the version is
// checked against the kernel's own modules and resolved through the module
// proxy. A module without a version is resolved to its latest.
func (b *Builder) Get(ctx context.Context, spec string) (string, error) {
	mod, ver, _ := strings.Cut(spec, "@")
	if ver == "" {
		ver = "latest"
	}
	if d, ok := b.host.dep(mod); ok && d.RepPath == "" && ver != "latest" && d.Version != ver {
		return "", &ConflictError{Module: mod, Kernel: d.Version, Wanted: ver, By: "%go get " + spec}
	}
	if err := b.checkToolchain(ctx); err != nil {
		return "", err
	}
	out, err := b.goCmd(ctx, os.TempDir(), "mod", "download", "-json", mod+"@"+ver)
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("compile: go get interrupted: %w", ctx.Err())
		}
		var info struct{ Error string }
		if json.Unmarshal([]byte(out), &info) == nil && info.Error != "" {
			return "", fmt.Errorf("go get %s@%s: %s", mod, ver, info.Error)
		}
		return "", fmt.Errorf("go get %s@%s: %s", mod, ver, strings.TrimSpace(out))
	}
	var info struct{ Path, Version string }
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		return "", fmt.Errorf("go get %s@%s: reading go mod download: %w", mod, ver, err)
	}
	if d, ok := b.host.dep(mod); ok && d.RepPath == "" && d.Version != info.Version {
		return "", &ConflictError{Module: mod, Kernel: d.Version, Wanted: info.Version, By: "%go get " + spec}
	}
	b.mu.Lock()
	b.pins[mod] = info.Version
	b.mu.Unlock()
	return info.Version, nil
}

// Replace makes module path resolve to a local directory (%go replace
// example.com/mylib => ./mylib): a package developed beside the notebook.
// Builds include the directory's content in their key, so an edit makes a
// new build. A package loaded once stays loaded in a process, though: a
// changed version of it loads after a kernel restart (see README).
func (b *Builder) Replace(module, dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("%%go replace %s => %s: %w", module, dir, err)
	}
	data, err := os.ReadFile(filepath.Join(abs, "go.mod"))
	if err != nil {
		return fmt.Errorf("%%go replace %s => %s: not a module directory: %w", module, dir, err)
	}
	if got := modulePath(string(data)); got != module {
		return fmt.Errorf("%%go replace %s => %s: the go.mod there declares module %q", module, dir, got)
	}
	if d, ok := b.host.dep(module); ok {
		return &ConflictError{Module: module, Kernel: d.Version, Wanted: "the directory " + abs, By: "%go replace"}
	}
	b.mu.Lock()
	b.local[module] = abs
	delete(b.pins, module)
	b.mu.Unlock()
	return nil
}

// dirDigest hashes the Go sources and go.mod under dir (not hidden
// directories or testdata), with their paths.
func dirDigest(dir string) string {
	sum := sha256.New()
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		name := d.Name()
		if d.IsDir() {
			if p != dir && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, ".go") || name == "go.mod" || name == "go.sum" {
			if data, err := os.ReadFile(p); err == nil {
				fmt.Fprintf(sum, "%s\n%d\n", p, len(data))
				sum.Write(data)
			}
		}
		return nil
	})
	return hex.EncodeToString(sum.Sum(nil))
}
