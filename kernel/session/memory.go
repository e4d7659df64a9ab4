package session

import (
	"go/token"
	"reflect"
	"strings"

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
