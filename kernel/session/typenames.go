package session

import (
	"fmt"
	"go/ast"
	"go/token"
	"reflect"
	"sort"
	"strings"
)

// yaegi represents a struct type declared in a cell by an unnamed
// reflect.StructOf, with unexported fields renamed (`lo int` becomes
// `Xlo int`). Printed as is, `*Part` reads `*struct { Xlo int; Xdata
// []float64 }`. The session keeps a table from those reflect types back to
// the names cells declared, refreshed after every chunk that declares a
// type (the interpreter is idle then), so that anything printing a type —
// %who, errors, inspection, a cell's result, the registry's Info — can name
// it, also from a goroutine while a cell runs.
//
// Only struct types are named: a cell's `type Celsius float64` is a plain
// float64 to reflect, and naming every float64 Celsius would be wrong.
// Types with the same fields share a reflect type; the name declared last
// wins, as it is the one the user has in mind.

// typeTable maps reflect types of cell struct types to their names.
type typeTable struct {
	names map[reflect.Type]string
	// replace rewrites the reflect spelling of those types in text,
	// longest first so that a type nesting another is replaced whole.
	replace *strings.Replacer
}

// refreshTypes rebuilds the table from the cells' type names. It compiles
// small expressions, so it runs only while no cell code runs (Execute
// between chunks, Reset).
func (s *Session) refreshTypes() {
	s.mu.Lock()
	var names []string
	for n := range s.globals {
		if !s.consts[n] && !strings.HasPrefix(n, "__gompi") {
			names = append(names, n)
		}
	}
	order := s.declOrder
	s.mu.Unlock()
	// Later declarations win: sort by the order names were declared.
	sort.Slice(names, func(i, j int) bool {
		if order[names[i]] != order[names[j]] {
			return order[names[i]] < order[names[j]]
		}
		return names[i] < names[j]
	})
	t := &typeTable{names: map[reflect.Type]string{}}
	var pairs []string
	for _, n := range names {
		p, err := s.lookupEval("(*" + n + ")(nil)")
		if err != nil || !p.IsValid() || p.Kind() != reflect.Pointer {
			continue
		}
		// The interpreter's own messages say "main.Part".
		pairs = append(pairs, "main."+n, n)
		if rt := p.Type().Elem(); rt.Kind() == reflect.Struct && rt.Name() == "" {
			t.names[rt] = n
		}
	}
	for rt, n := range t.names {
		pairs = append(pairs, rt.String(), n)
	}
	// Longest spelling first: strings.Replacer tries the pairs in order.
	idx := make([]int, len(pairs)/2)
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(i, j int) bool { return len(pairs[2*idx[i]]) > len(pairs[2*idx[j]]) })
	sorted := make([]string, 0, len(pairs))
	for _, i := range idx {
		sorted = append(sorted, pairs[2*i], pairs[2*i+1])
	}
	t.replace = strings.NewReplacer(sorted...)
	s.mu.Lock()
	s.types = t
	s.mu.Unlock()
}

// typeTable returns the current table (never nil).
func (s *Session) typeTable() *typeTable {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.types == nil {
		return &typeTable{names: map[reflect.Type]string{}, replace: strings.NewReplacer()}
	}
	return s.types
}

// TypeName spells the type of v as the user declared it: "*Part" for a
// pointer to a struct type declared in a cell, "[]Part", "map[string]*Part",
// and %T's spelling for everything else ("*big.Int", "[]float64"). The
// registry's Info uses it to list managed objects; nil gives "nil".
func (s *Session) TypeName(v any) string {
	rv := unwrapInterp(reflect.ValueOf(v))
	if !rv.IsValid() {
		return "nil"
	}
	return s.typeTable().typeString(rv.Type())
}

// TypeString spells t as TypeName does.
func (s *Session) TypeString(t reflect.Type) string {
	if t == nil {
		return "nil"
	}
	return s.typeTable().typeString(t)
}

// NameTypes replaces the reflect spelling of cell types in text (an error
// message, a value printed with %T) by their names.
func (s *Session) NameTypes(text string) string {
	return s.typeTable().replace.Replace(text)
}

// typeString spells t with cell types named, recursing through composite
// types so that []*Part reads as declared.
func (tt *typeTable) typeString(t reflect.Type) string {
	if n, ok := tt.names[t]; ok {
		return n
	}
	if t.Name() != "" {
		return t.String() // a named compiled type: "big.Int", "error", "int"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return "*" + tt.typeString(t.Elem())
	case reflect.Slice:
		return "[]" + tt.typeString(t.Elem())
	case reflect.Array:
		return fmt.Sprintf("[%d]%s", t.Len(), tt.typeString(t.Elem()))
	case reflect.Map:
		return "map[" + tt.typeString(t.Key()) + "]" + tt.typeString(t.Elem())
	case reflect.Chan:
		switch t.ChanDir() {
		case reflect.RecvDir:
			return "<-chan " + tt.typeString(t.Elem())
		case reflect.SendDir:
			return "chan<- " + tt.typeString(t.Elem())
		}
		return "chan " + tt.typeString(t.Elem())
	case reflect.Func:
		in := make([]string, t.NumIn())
		for i := range in {
			if t.IsVariadic() && i == len(in)-1 {
				in[i] = "..." + tt.typeString(t.In(i).Elem())
			} else {
				in[i] = tt.typeString(t.In(i))
			}
		}
		out := make([]string, t.NumOut())
		for i := range out {
			out[i] = tt.typeString(t.Out(i))
		}
		s := "func(" + strings.Join(in, ", ") + ")"
		switch len(out) {
		case 0:
		case 1:
			s += " " + out[0]
		default:
			s += " (" + strings.Join(out, ", ") + ")"
		}
		return s
	case reflect.Struct:
		fs := make([]string, t.NumField())
		for i := range fs {
			f := t.Field(i)
			if f.Anonymous {
				fs[i] = tt.typeString(f.Type)
			} else {
				fs[i] = f.Name + " " + tt.typeString(f.Type)
			}
		}
		if len(fs) == 0 {
			return "struct {}"
		}
		return "struct { " + strings.Join(fs, "; ") + " }"
	}
	return tt.replace.Replace(t.String())
}

// noteTypes updates what names types after a chunk of declarations: the
// type table, and the helpers calling Error and String methods of cell
// types (made now, while the interpreter is idle, for goroutines that
// panic later).
func (s *Session) noteTypes(decls []ast.Decl) {
	changed := false
	s.mu.Lock()
	for _, d := range decls {
		switch d := d.(type) {
		case *ast.GenDecl:
			changed = changed || d.Tok == token.TYPE
		case *ast.FuncDecl:
			if d.Recv == nil || len(d.Recv.List) == 0 {
				continue
			}
			changed = true
			s.funcExec[d.Name.Name] = s.execs
			if n := recvTypeName(d); n != "" && (d.Name.Name == "Error" || d.Name.Name == "String") {
				s.stringers[n] = true
			}
		}
	}
	var stringers []string
	if changed {
		s.methodHelpers = map[methodKey]reflect.Value{}
		for n := range s.stringers {
			stringers = append(stringers, n)
		}
	}
	s.mu.Unlock()
	if !changed {
		return
	}
	sort.Strings(stringers)
	s.refreshTypes()
	s.prepareMethods(stringers)
}
