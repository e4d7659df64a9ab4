package session

import (
	"bytes"
	"go/ast"
	"go/build"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"unicode"
)

// This file finds the documentation of compiled packages in their Go
// sources: the standard library under GOROOT, gompi's own packages in the
// module's source tree (found next to this file's build path), and modules
// such as gonum in the module cache. Only the files that mention a name are
// parsed, and parsed files are kept, so a lookup reads a package once.

// docIndex finds declarations and their doc comments in Go sources.
type docIndex struct {
	goroot  string               // "" when unknown
	modRoot string               // this module's source directory, "" when not present
	modPath string               // this module's path
	deps    map[string]string    // module path -> version, from the build info
	bound   map[string]DocSource // packages bound from Go values (Options.Docs)

	mu    sync.Mutex
	dirs  map[string][]string      // import path -> its files (nil: none)
	files map[string]*parsedSource // file name -> parsed file
	texts map[string][]byte        // file name -> source, read before parsing
}

// parsedSource is one parsed Go file.
type parsedSource struct {
	fset *token.FileSet
	file *ast.File
}

// DocSource is where the documentation of a package bound from Go values
// is: the directories of their sources, relative to this module's root,
// and the receiver types whose methods are the package's functions, in the
// order a name is looked for.
type DocSource struct {
	Dirs  []string
	Recvs []string
}

// newDocIndex locates GOROOT, the module's sources and its dependencies;
// bound are the packages bound from Go values (Options.Docs).
func newDocIndex(bound map[string]DocSource) *docIndex {
	x := &docIndex{dirs: map[string][]string{}, files: map[string]*parsedSource{}, texts: map[string][]byte{}, deps: map[string]string{}, bound: bound}
	x.goroot = os.Getenv("GOROOT")
	if x.goroot == "" {
		x.goroot = runtime.GOROOT() //nolint:staticcheck // the build's GOROOT is the best guess left
	}
	// This file's path at build time is <module>/kernel/session/doc.go.
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		root := filepath.Dir(filepath.Dir(filepath.Dir(file)))
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			x.modRoot = root
		}
	}
	x.modPath = strings.TrimSuffix(reflect.TypeOf(Session{}).PkgPath(), "/kernel/session")
	if x.modRoot != "" { // a test binary's build info lists no dependencies
		if gomod, err := os.ReadFile(filepath.Join(x.modRoot, "go.mod")); err == nil {
			for _, l := range strings.Split(string(gomod), "\n") {
				if f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(l), "require ")); len(f) >= 2 && strings.HasPrefix(f[1], "v") {
					x.deps[f[0]] = f[1]
				}
			}
		}
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Replace != nil {
				d = d.Replace
			}
			x.deps[d.Path] = d.Version
		}
	}
	return x
}

// stdSrc is where the standard library's sources should be.
func (x *docIndex) stdSrc() string {
	if x.goroot == "" {
		return "GOROOT (unknown)"
	}
	return filepath.Join(x.goroot, "src")
}

// dirsOf returns the source directories of an import path, and where they
// were looked for when there are none.
func (x *docIndex) dirsOf(importPath string) (dirs []string, tried string) {
	if src, ok := x.bound[importPath]; ok {
		if x.modRoot == "" {
			return nil, "the gompi-kernel sources (not next to the binary's build path)"
		}
		for _, r := range src.Dirs {
			dirs = append(dirs, filepath.Join(x.modRoot, filepath.FromSlash(r)))
		}
		return dirs, x.modRoot
	}
	if x.modRoot != "" && (importPath == x.modPath || strings.HasPrefix(importPath, x.modPath+"/")) {
		d := filepath.Join(x.modRoot, filepath.FromSlash(strings.TrimPrefix(importPath, x.modPath)))
		return []string{d}, d
	}
	for mod, ver := range x.deps {
		if importPath == mod || strings.HasPrefix(importPath, mod+"/") {
			d := filepath.Join(modCache(), escapeModPath(mod)+"@"+ver, filepath.FromSlash(strings.TrimPrefix(importPath, mod)))
			return []string{d}, d
		}
	}
	if first := strings.Split(importPath, "/")[0]; !strings.Contains(first, ".") && first != "gompi" { // the standard library
		d := filepath.Join(x.stdSrc(), filepath.FromSlash(importPath))
		return []string{d}, d
	}
	return nil, importPath
}

// modCache is the module cache directory.
func modCache() string {
	if d := os.Getenv("GOMODCACHE"); d != "" {
		return d
	}
	gp := os.Getenv("GOPATH")
	if gp == "" {
		gp = build.Default.GOPATH
	}
	return filepath.Join(filepath.SplitList(gp)[0], "pkg", "mod")
}

// escapeModPath escapes upper-case letters as the module cache does.
func escapeModPath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if unicode.IsUpper(r) {
			b.WriteByte('!')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// goFiles lists the non-test Go files of dir that build here.
func (x *docIndex) goFiles(dir string) []string {
	x.mu.Lock()
	fs, ok := x.dirs[dir]
	x.mu.Unlock()
	if ok {
		return fs
	}
	if bp, err := build.Default.ImportDir(dir, 0); err == nil {
		for _, f := range bp.GoFiles {
			fs = append(fs, filepath.Join(dir, f))
		}
	}
	x.mu.Lock()
	x.dirs[dir] = fs
	x.mu.Unlock()
	return fs
}

// parse returns a parsed file, reading it once.
func (x *docIndex) parse(name string) *parsedSource {
	x.mu.Lock()
	p, ok := x.files[name]
	x.mu.Unlock()
	if ok {
		return p
	}
	if src := x.text(name); src != nil {
		fset := token.NewFileSet()
		if f, err := parser.ParseFile(fset, name, src, parser.ParseComments|parser.SkipObjectResolution); err == nil {
			p = &parsedSource{fset: fset, file: f}
		}
	}
	x.mu.Lock()
	x.files[name] = p
	x.mu.Unlock()
	return p
}

// mentions tells whether a file's source contains name; it spares parsing
// files that cannot declare it.
func (x *docIndex) mentions(file, name string) bool {
	return bytes.Contains(x.text(file), []byte(name))
}

// text returns a file's source, reading it once.
func (x *docIndex) text(file string) []byte {
	x.mu.Lock()
	src, ok := x.texts[file]
	x.mu.Unlock()
	if ok {
		return src
	}
	src, _ = os.ReadFile(file)
	x.mu.Lock()
	x.texts[file] = src
	x.mu.Unlock()
	return src
}

// declDoc is a declaration found in source.
type declDoc struct {
	sig  string // the declaration without body (funcs) or in full (types, vars, consts)
	full string // the whole declaration, with a function's body
	doc  string // its doc comment, "" if none
}

// lookup finds the declaration of name in the package at importPath; recv
// restricts it to methods of that type ("" for top-level names; "*" for a
// method of any type, which gompi's bound methods are). missing says why
// nothing was found when the sources are absent.
func (x *docIndex) lookup(importPath, recv, name string) (d *declDoc, missing string) {
	dirs, tried := x.dirsOf(importPath)
	found := false
	for _, dir := range dirs {
		files := x.goFiles(dir)
		if len(files) > 0 {
			found = true
		}
		for _, f := range files {
			if !x.mentions(f, name) {
				continue
			}
			p := x.parse(f)
			if p == nil {
				continue
			}
			if d := findDecl(p, recv, name); d != nil {
				return d, ""
			}
		}
	}
	if !found {
		return nil, tried
	}
	return nil, ""
}

// findDecl looks for name in one file.
func findDecl(p *parsedSource, recv, name string) *declDoc {
	for _, decl := range p.file.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			if d.Name.Name != name {
				continue
			}
			r := recvTypeName(d)
			if (recv == "" && r != "") || (recv != "" && recv != "*" && r != recv) {
				continue
			}
			return funcDoc(p.fset, d)
		case *ast.GenDecl:
			if recv != "" && recv != "*" {
				continue
			}
			if dd := genDoc(p.fset, d, name); dd != nil {
				return dd
			}
		}
	}
	return nil
}

// recvTypeName is the receiver's type name of a method, "" for a function.
func recvTypeName(d *ast.FuncDecl) string {
	if d.Recv == nil || len(d.Recv.List) == 0 {
		return ""
	}
	t := d.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	switch t := t.(type) {
	case *ast.IndexExpr:
		return exprString(token.NewFileSet(), t.X)
	case *ast.IndexListExpr:
		return exprString(token.NewFileSet(), t.X)
	}
	return exprString(token.NewFileSet(), t)
}

// funcDoc describes a function or method declaration.
func funcDoc(fset *token.FileSet, d *ast.FuncDecl) *declDoc {
	head := *d
	head.Body, head.Doc = nil, nil
	full := *d
	full.Doc = nil
	return &declDoc{sig: nodeString(fset, &head), full: nodeString(fset, &full), doc: d.Doc.Text()}
}

// genDoc describes name if a type, var or const declaration declares it:
// the spec alone (with its keyword) and the spec's doc comment, else the
// group's.
func genDoc(fset *token.FileSet, d *ast.GenDecl, name string) *declDoc {
	for _, sp := range d.Specs {
		var doc, comment *ast.CommentGroup
		match := false
		switch s := sp.(type) {
		case *ast.TypeSpec:
			match, doc, comment = s.Name.Name == name, s.Doc, s.Comment
		case *ast.ValueSpec:
			for _, n := range s.Names {
				match = match || n.Name == name
			}
			doc, comment = s.Doc, s.Comment
		}
		if !match {
			continue
		}
		text := doc.Text()
		if text == "" {
			text = d.Doc.Text()
		}
		if text == "" {
			text = comment.Text()
		}
		one := &ast.GenDecl{Tok: d.Tok, Specs: []ast.Spec{stripSpecDoc(sp)}}
		src := nodeString(fset, one)
		full := src
		if len(d.Specs) > 1 && d.Lparen.IsValid() {
			g := *d
			g.Doc = nil
			full = nodeString(fset, &g)
		}
		return &declDoc{sig: src, full: full, doc: text}
	}
	return nil
}

// stripSpecDoc returns a copy of a spec without its doc comment, so that
// printing it shows code only.
func stripSpecDoc(sp ast.Spec) ast.Spec {
	switch s := sp.(type) {
	case *ast.TypeSpec:
		c := *s
		c.Doc, c.Comment = nil, nil
		return &c
	case *ast.ValueSpec:
		c := *s
		c.Doc, c.Comment = nil, nil
		return &c
	}
	return sp
}

// nodeString prints a node as gofmt would.
func nodeString(fset *token.FileSet, n any) string {
	var b bytes.Buffer
	cfg := printer.Config{Mode: printer.UseSpaces | printer.TabIndent, Tabwidth: 8}
	if err := cfg.Fprint(&b, fset, n); err != nil {
		return ""
	}
	return b.String()
}

// exprString prints an expression.
func exprString(fset *token.FileSet, e ast.Expr) string { return nodeString(fset, e) }

// shortType shortens a type declaration for detail level 0: a struct or
// interface of more than maxLines lines ends in an ellipsis.
func shortType(sig string, maxLines int) string {
	lines := strings.Split(sig, "\n")
	if len(lines) <= maxLines {
		return sig
	}
	return strings.Join(lines[:maxLines-1], "\n") + "\n\t// … (detail level 1 shows all)\n}"
}

// docs returns the documentation index an inspection uses.
//
// It is made per request: the session has no field to keep it in (see
// session.go), so files are read again each time — only those that
// mention the name, which keeps a lookup within a few milliseconds. A
// Session field `docs *docIndex` set by New, returned here, would make the
// parsed files live as long as the session.
func (s *Session) docs() *docIndex {
	s.docOnce.Do(func() { s.docIndex = newDocIndex(s.opts.Docs) })
	return s.docIndex
}
