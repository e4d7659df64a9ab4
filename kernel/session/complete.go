package session

import (
	"go/scanner"
	"go/token"
	"reflect"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Completion is the answer to a completion request. Start and End delimit,
// in Unicode code points like Jupyter's cursor_pos, the text that a match
// replaces.
type Completion struct {
	Matches    []string `json:"matches"`
	Start, End int
}

// Complete proposes completions for the word before cursor (a position in
// code points): after "pkg." the members of an importable package; after
// "x." the fields and methods of x's type, where x is a name the cell gave
// a type earlier in its text (x := T{…}, var x T, a parameter x T,
// x := F(…)) or a global of an earlier cell, and the type is compiled or
// declared in a cell (methods on T and *T, read from the cell's text and
// from the interpreter, see doc_yaegi.go); otherwise Go keywords,
// builtins, package names, the session's globals and the names of the
// cell itself (not the members after a dot).
func (s *Session) Complete(code string, cursor int) Completion {
	off := byteOffset(code, cursor)
	start := wordStart(code, off)
	prefix := code[start:off]
	c := Completion{Start: utf8.RuneCountInString(code[:start]), End: utf8.RuneCountInString(code[:off])}

	var cands []string
	if recv, ok := selectorBefore(code, start); ok {
		cands = s.members(code, start, recv)
	} else {
		cands = append(cands, goKeywords()...)
		cands = append(cands, goBuiltins()...)
		s.mu.Lock()
		cands = append(cands, s.pkgs.packageNames()...)
		for n := range s.imported {
			cands = append(cands, n)
		}
		for n := range s.globals {
			cands = append(cands, n)
		}
		s.mu.Unlock()
		cands = append(cands, cellIdents(code, start, off)...)
	}
	seen := map[string]bool{}
	for _, m := range cands {
		if seen[m] || !strings.HasPrefix(m, prefix) || strings.HasPrefix(m, "__gompi") || m == "_" || m == "." {
			continue
		}
		seen[m] = true
		c.Matches = append(c.Matches, m)
	}
	sort.Strings(c.Matches)
	return c
}

// members lists what may follow "recv." in code, where the member starts
// at byte start.
func (s *Session) members(code string, start int, recv string) []string {
	if path, ok := s.packagePath(recv); ok && localType(code, start-1-len(recv), recv) == "" {
		var out []string
		for name := range s.pkgs.symbols[path] {
			if token.IsExported(name) {
				out = append(out, name)
			}
		}
		return out
	}
	view := parseCell(code)
	if t := localType(code, start-1-len(recv), recv); t != "" {
		if out := s.typeMembers(view, t, 0); len(out) > 0 {
			return out
		}
	}
	s.mu.Lock()
	ip := s.ip
	s.mu.Unlock()
	var out []string
	if sym, ok := lookupCellSym(ip, recv); ok && sym.kind == yVarSym {
		out = itypeMembers(sym.typ)
	}
	if v, ok := s.global(recv); ok && len(out) == 0 {
		out = valueMembers(unwrapInterp(v)) // yaegi's structs rename unexported fields
	}
	return out
}

// packagePath returns the import path that name denotes in the cells, if
// it is a package (imported, or importable and not shadowed).
func (s *Session) packagePath(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.imported[name]; ok {
		return p, true
	}
	if s.globals[name] {
		return "", false
	}
	p, ok := s.pkgs.byName[name]
	return p, ok
}

// global returns the value of a variable or constant of earlier cells.
func (s *Session) global(name string) (reflect.Value, bool) {
	s.mu.Lock()
	ip := s.ip
	s.mu.Unlock()
	v, ok := ip.Globals()[name]
	return v, ok && v.IsValid()
}

// valueMembers lists the exported fields and methods of a value.
func valueMembers(v reflect.Value) []string {
	if !v.IsValid() {
		return nil
	}
	if v.Kind() != reflect.Pointer && v.CanAddr() {
		v = v.Addr() // the pointer's method set includes the value's
	}
	var out []string
	t := v.Type()
	for i := 0; i < t.NumMethod(); i++ {
		out = append(out, t.Method(i).Name)
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct {
		for i := 0; i < t.NumField(); i++ {
			if f := t.Field(i); f.IsExported() {
				out = append(out, f.Name)
			}
		}
	}
	return out
}

// byteOffset converts a position in code points to a byte offset, clamped
// to code.
func byteOffset(code string, cursor int) int {
	if cursor <= 0 {
		return 0
	}
	n := 0
	for i := range code {
		if n == cursor {
			return i
		}
		n++
	}
	return len(code)
}

func isIdentRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

// wordStart returns the byte offset where the identifier ending at off
// starts.
func wordStart(code string, off int) int {
	for off > 0 {
		r, size := utf8.DecodeLastRuneInString(code[:off])
		if !isIdentRune(r) {
			break
		}
		off -= size
	}
	return off
}

// wordEnd returns the byte offset where the identifier going on at off
// ends.
func wordEnd(code string, off int) int {
	for off < len(code) {
		r, size := utf8.DecodeRuneInString(code[off:])
		if !isIdentRune(r) {
			break
		}
		off += size
	}
	return off
}

// selectorBefore returns X when the word starting at start follows "X.".
func selectorBefore(code string, start int) (string, bool) {
	if start == 0 || code[start-1] != '.' {
		return "", false
	}
	xs := wordStart(code, start-1)
	x := code[xs : start-1]
	if x == "" {
		return "", false
	}
	if r, _ := utf8.DecodeRuneInString(x); unicode.IsDigit(r) {
		return "", false
	}
	return x, true
}

// cellIdents returns the identifiers of the cell, except the word being
// completed (between start and end) and selectors (what follows a dot):
// the cell's own names, its locals included.
func cellIdents(code string, start, end int) []string {
	fset := token.NewFileSet()
	file := fset.AddFile("", -1, len(code))
	var sc scanner.Scanner
	sc.Init(file, []byte(code), func(token.Position, string) {}, 0)
	var out []string
	afterDot := false
	for {
		pos, t, lit := sc.Scan()
		if t == token.EOF {
			return out
		}
		if o := file.Offset(pos); t == token.IDENT && (o != start || o+len(lit) != end) && !afterDot {
			out = append(out, lit)
		}
		afterDot = t == token.PERIOD
	}
}

// goKeywords are Go's keywords.
func goKeywords() []string {
	var out []string
	for t := token.BREAK; t <= token.VAR; t++ {
		if t.IsKeyword() {
			out = append(out, t.String())
		}
	}
	return out
}

// goBuiltins are the predeclared identifiers yaegi v0.16.1 knows.
func goBuiltins() []string {
	return []string{
		"any", "append", "bool", "byte", "cap", "close", "comparable", "complex", "complex128", "complex64",
		"copy", "delete", "error", "false", "float32", "float64", "imag", "int", "int16", "int32", "int64",
		"int8", "iota", "len", "make", "new", "nil", "panic", "print", "println", "real", "recover", "rune",
		"string", "true", "uint", "uint16", "uint32", "uint64", "uint8", "uintptr",
	}
}
