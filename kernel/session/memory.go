package session

import (
	"go/token"
	"reflect"
	"strings"
	"sync"
	"unsafe"

	"github.com/traefik/yaegi/interp"
)

// forgetCompiled drops what yaegi v0.16.1 keeps of every chunk it ever
// compiled for its debugger alone, which the kernel does not use: the
// syntax trees (Interpreter.roots) and each package scope's list of child
// scopes (scope.child, one per block of every cell). Kept, they made a
// rank's memory grow by about 3 MiB per 1,000 trivial cells. What a later
// cell still needs (functions, types, globals) is reached through the
// scopes' symbols, not through these lists.
func forgetCompiled(i *interp.Interpreter) {
	ip := reflect.ValueOf(i).Elem()
	if roots := field(ip, "roots"); roots.IsValid() && roots.Kind() == reflect.Slice {
		roots.Set(reflect.Zero(roots.Type()))
	}
	scopes := field(ip, "scopes")
	if !scopes.IsValid() || scopes.Kind() != reflect.Map {
		return
	}
	iter := scopes.MapRange()
	for iter.Next() {
		sc := iter.Value()
		if sc.Kind() != reflect.Pointer || sc.IsNil() {
			continue
		}
		if child := field(sc.Elem(), "child"); child.IsValid() && child.Kind() == reflect.Slice {
			child.Set(reflect.Zero(child.Type()))
		}
	}
}

// forgetFiles removes from the interpreter's file set the files of a chunk
// that was just run (those from base on), when nothing of the chunk can
// run again later: no function literal or declaration in it, so no later
// panic needs its positions. A trivial cell (x = 1) leaves nothing behind.
func forgetFiles(i *interp.Interpreter, base int, src string) {
	if strings.Contains(src, "func") {
		return
	}
	fset := i.FileSet()
	var files []*token.File
	fset.Iterate(func(f *token.File) bool {
		if f.Base() >= base {
			files = append(files, f)
		}
		return true
	})
	for _, f := range files {
		fset.RemoveFile(f)
	}
}

// growFrame makes room in the interpreter's global frame for the slots the
// chunk just compiled added, before yaegi v0.16.1 does it in Execute:
// yaegi's resizeFrame allocates a frame of the exact new length and copies
// every slot, and a cell's expression temporaries are global slots (one
// to four per non-trivial cell), so each cell copied a frame that grew
// with every cell before it: `y := fmt.Sprint(x)` took 0.14 ms per cell
// over a session's first 2000 cells and 0.81 ms over cells 8000-10000.
// Here the frame grows by doubling and is extended in place while its
// capacity lasts; yaegi then finds it long enough and leaves it. New slots
// hold a fresh zero value of their type, as yaegi's would.
//
// The fields are reached by reflection on the pinned yaegi version; if
// the layout ever changes this does nothing and yaegi resizes as before.
func growFrame(i *interp.Interpreter) {
	ip := reflect.ValueOf(i).Elem()
	u, f := field(ip, "universe"), field(ip, "frame")
	if !u.IsValid() || u.Kind() != reflect.Pointer || u.IsNil() || !f.IsValid() || f.Kind() != reflect.Pointer || f.IsNil() {
		return
	}
	tv, dv, mv := field(u.Elem(), "types"), field(f.Elem(), "data"), field(f.Elem(), "mutex")
	if tv.Type() != reflect.TypeFor[[]reflect.Type]() || dv.Type() != reflect.TypeFor[[]reflect.Value]() || mv.Type() != reflect.TypeFor[sync.RWMutex]() {
		return
	}
	types := tv.Interface().([]reflect.Type)
	data := (*[]reflect.Value)(unsafe.Pointer(dv.UnsafeAddr()))
	mu := (*sync.RWMutex)(unsafe.Pointer(mv.UnsafeAddr()))
	mu.Lock()
	defer mu.Unlock()
	old := *data
	if len(types) <= len(old) {
		return
	}
	var grown []reflect.Value
	if cap(old) >= len(types) {
		grown = old[:len(types)]
	} else {
		grown = make([]reflect.Value, len(types), 2*len(types))
		copy(grown, old)
	}
	for j := len(old); j < len(types); j++ {
		grown[j] = reflect.New(types[j]).Elem()
	}
	*data = grown
}
