package session

import (
	"reflect"
	"sort"
	"strings"
)

// Binding is a name that cells defined, for the %who magic.
type Binding struct {
	Name string
	Kind string // "var", "func" or "type"
	Type string // the Go type; "" for a type name
}

// Who lists the names cells have defined, sorted, with their kinds and
// types. Hidden names of the kernel's own are left out.
func (s *Session) Who() []Binding {
	s.mu.Lock()
	names := make([]string, 0, len(s.globals))
	for n := range s.globals {
		if !strings.HasPrefix(n, "__gompi") {
			names = append(names, n)
		}
	}
	s.mu.Unlock()
	sort.Strings(names)
	out := make([]Binding, 0, len(names))
	for _, n := range names {
		// (*T)(nil) compiles only for a type name (as in cellTypesOf).
		if p, err := s.lookupEval("(*" + n + ")(nil)"); err == nil && p.IsValid() && p.Kind() == reflect.Pointer {
			out = append(out, Binding{Name: n, Kind: "type"})
			continue
		}
		v, err := s.lookupEval(n)
		if err != nil {
			continue
		}
		u := unwrapInterp(v)
		b := Binding{Name: n, Kind: "var", Type: "nil"}
		if u.IsValid() {
			b.Type = s.TypeString(u.Type())
			if u.Kind() == reflect.Func {
				b.Kind = "func"
			}
		}
		out = append(out, b)
	}
	return out
}
