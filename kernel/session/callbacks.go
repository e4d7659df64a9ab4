package session

import (
	"reflect"
	"time"

	"github.com/traefik/yaegi/interp"
)

// callbackExports guards the functions of the standard library that call a
// cell's function on a goroutine of their own, as the rewritten go
// statements guard the goroutines a cell starts: a panic there would
// otherwise kill the process, and with it every MPI rank. (net/http
// recovers its handlers' panics itself.)
func (s *Session) callbackExports() interp.Exports {
	return interp.Exports{"time/time": {
		"AfterFunc": reflect.ValueOf(func(d time.Duration, f func()) *time.Timer {
			return time.AfterFunc(d, func() {
				defer func() { s.goPanic(recover()) }()
				f()
			})
		}),
	}}
}
