//go:build !linux

package mpi

import "runtime"

// yieldCore lets other goroutines run; other systems' thread yield is not
// in package syscall.
func yieldCore() { runtime.Gosched() }
