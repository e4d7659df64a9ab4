package compile

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
)

// host describes the running binary as far as a plugin must match it: a
// plugin is accepted by plugin.Open only if it was built by the same Go
// toolchain, with the same flags that change compiled code, and every
// package the two share is the very same version.
type host struct {
	goVersion string   // runtime.Version(), e.g. "go1.26.8"
	mainPath  string   // the host's main module (never required by plugins)
	deps      []module // modules linked into the host, sorted by path
	flags     []string // go build flags that must match (-trimpath, -tags=…, -race)
	env       []string // environment that must match (CGO_ENABLED, GOARCH, GOAMD64, …)
}

// module is one dependency of the host.
type module struct {
	Path, Version, Sum string
	// Replacement, if the host's go.mod replaced the module: a module
	// path and version, or a local directory (Version "").
	RepPath, RepVersion string
}

// settings whose value becomes an environment variable of the go command.
var envSettings = map[string]bool{
	"CGO_ENABLED": true, "CGO_CFLAGS": true, "CGO_CPPFLAGS": true, "CGO_CXXFLAGS": true,
	"CGO_LDFLAGS": true, "GOARCH": true, "GOOS": true, "GOAMD64": true, "GOARM": true,
	"GOARM64": true, "GO386": true, "GOMIPS": true, "GOPPC64": true, "GORISCV64": true,
	"GOWASM": true, "GOEXPERIMENT": true,
}

// readHost reads the running binary's build information. A go test
// binary has it too, so tests load plugins like the kernel does.
func readHost() (host, error) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return host{}, errors.New("compile: this binary has no build information (built without module support?); plugins cannot be matched to it")
	}
	h := host{goVersion: runtime.Version(), mainPath: bi.Main.Path}
	for _, d := range bi.Deps {
		m := module{Path: d.Path, Version: d.Version, Sum: d.Sum}
		if d.Replace != nil {
			m.RepPath, m.RepVersion = d.Replace.Path, d.Replace.Version
		}
		h.deps = append(h.deps, m)
	}
	if len(h.deps) == 0 && bi.Main.Path != "" {
		// A go test binary records no dependencies (golang.org/issue/33976),
		// but it runs inside its module: the module's go.mod lists every
		// module the build could use at the versions it used.
		deps, err := mainModuleDeps(bi.Main.Path)
		if err != nil {
			return host{}, err
		}
		h.deps = deps
	}
	sort.Slice(h.deps, func(i, j int) bool { return h.deps[i].Path < h.deps[j].Path })
	for _, s := range bi.Settings {
		switch {
		case s.Key == "-trimpath" && s.Value == "true", s.Key == "-race" && s.Value == "true",
			s.Key == "-msan" && s.Value == "true", s.Key == "-asan" && s.Value == "true":
			h.flags = append(h.flags, s.Key)
		case s.Key == "-tags" && s.Value != "":
			h.flags = append(h.flags, "-tags="+s.Value)
		case s.Key == "-gcflags" && s.Value != "":
			h.flags = append(h.flags, "-gcflags="+s.Value)
		case envSettings[s.Key]:
			h.env = append(h.env, s.Key+"="+s.Value)
		}
	}
	return h, nil
}

// dep returns the host's version of module path, if it links one.
func (h host) dep(path string) (module, bool) {
	i := sort.Search(len(h.deps), func(i int) bool { return h.deps[i].Path >= path })
	if i < len(h.deps) && h.deps[i].Path == path {
		return h.deps[i], true
	}
	return module{}, false
}

// goDirective is the version for the go line of a generated go.mod: the
// toolchain's own, so that the go command neither refuses nor switches.
func (h host) goDirective() string {
	v := strings.TrimPrefix(h.goVersion, "go")
	if i := strings.IndexAny(v, " -"); i >= 0 {
		v = v[:i]
	}
	return v
}

// fingerprint identifies everything about the host that a plugin depends
// on; it is part of every cache key.
func (h host) fingerprint() string {
	sum := sha256.New()
	fmt.Fprintln(sum, h.goVersion, runtime.GOOS, runtime.GOARCH)
	for _, d := range h.deps {
		fmt.Fprintln(sum, d.Path, d.Version, d.Sum, d.RepPath, d.RepVersion)
	}
	fmt.Fprintln(sum, h.flags, h.env)
	return hex.EncodeToString(sum.Sum(nil))
}

// goMod is the go.mod of a generated module: every module of the host
// required at the host's exact version (so that the go command cannot
// pick another version of a package the plugin shares with the host),
// plus the user's pins and local replacements.
func (h host) goMod(pins, local map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "module %s\n\ngo %s\n\nrequire (\n", genModule, h.goDirective())
	seen := map[string]bool{}
	for _, d := range h.deps {
		v := d.Version
		if !strings.HasPrefix(v, "v") {
			v = "v0.0.0" // a local replacement has no version of its own
		}
		fmt.Fprintf(&b, "\t%s %s\n", d.Path, v)
		seen[d.Path] = true
	}
	paths := make([]string, 0, len(pins))
	for p := range pins {
		if !seen[p] {
			paths = append(paths, p)
		}
	}
	for p := range local {
		if !seen[p] {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		v, ok := pins[p]
		if _, isLocal := local[p]; isLocal || !ok {
			v = "v0.0.0-00010101000000-000000000000" // the replacement decides
		}
		fmt.Fprintf(&b, "\t%s %s\n", p, v)
	}
	b.WriteString(")\n")
	dirs := make([]string, 0, len(local))
	for p := range local {
		dirs = append(dirs, p)
	}
	sort.Strings(dirs)
	for _, p := range dirs {
		fmt.Fprintf(&b, "replace %s => %s\n", p, local[p])
	}
	for _, d := range h.deps {
		switch {
		case d.RepPath == "":
		case d.RepVersion != "":
			fmt.Fprintf(&b, "replace %s => %s %s\n", d.Path, d.RepPath, d.RepVersion)
		default:
			if _, err := os.Stat(d.RepPath); err == nil {
				fmt.Fprintf(&b, "replace %s => %s\n", d.Path, d.RepPath)
			}
		}
	}
	return b.String()
}

// mainModuleDeps reads the requirements and replacements of module
// mainPath from its go.mod, found in the working directory or above it.
func mainModuleDeps(mainPath string) ([]module, error) {
	dir, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("compile: this binary records no dependencies and the working directory is unknown: %w", err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && modulePath(string(data)) == mainPath {
			reqs, reps := requirements(string(data)), replacements(string(data), dir)
			var out []module
			for p, v := range reqs {
				m := module{Path: p, Version: v}
				if r, ok := reps[p]; ok {
					m.RepPath, m.RepVersion = r[0], r[1]
				}
				out = append(out, m)
			}
			return out, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil, fmt.Errorf("compile: this binary (a test?) records no dependencies and the go.mod of %s is not in the working directory or above it", mainPath)
		}
		dir = parent
	}
}

// modulePath is the module line of a go.mod.
func modulePath(gomod string) string {
	for _, line := range strings.Split(gomod, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// directiveLines returns the rest of every line of a go.mod that is a
// verb directive ("replace", "require"), alone or inside a verb ( … ) block,
// without comments.
func directiveLines(gomod, verb string) []string {
	var out []string
	inBlock := false
	for _, line := range strings.Split(gomod, "\n") {
		line = strings.TrimSpace(line)
		if i := strings.Index(line, "//"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		switch {
		case line == verb+" (":
			inBlock = true
		case inBlock && line == ")":
			inBlock = false
		case strings.HasPrefix(line, verb+" "):
			out = append(out, strings.TrimSpace(strings.TrimPrefix(line, verb+" ")))
		case inBlock && line != "":
			out = append(out, line)
		}
	}
	return out
}

// replacements parses the replace directives of a go.mod in dir: module
// path -> {new path or absolute directory, version or ""}.
func replacements(gomod, dir string) map[string][2]string {
	out := map[string][2]string{}
	for _, line := range directiveLines(gomod, "replace") {
		from, to, ok := strings.Cut(line, "=>")
		if !ok {
			continue
		}
		ff, tf := strings.Fields(from), strings.Fields(to)
		if len(ff) == 0 || len(tf) == 0 {
			continue
		}
		if len(tf) == 1 {
			p := tf[0]
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			out[ff[0]] = [2]string{p, ""}
		} else {
			out[ff[0]] = [2]string{tf[0], tf[1]}
		}
	}
	return out
}

// requirements parses the require lines of a go.mod (as the go command
// writes it) into module path -> version.
func requirements(gomod string) map[string]string {
	out := map[string]string{}
	for _, line := range directiveLines(gomod, "require") {
		if f := strings.Fields(line); len(f) == 2 {
			out[f[0]] = f[1]
		}
	}
	return out
}
