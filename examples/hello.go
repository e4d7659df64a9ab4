//go:build ignore

// A script for `mpirun -n 4 gompi-kernel run examples/hello.go`: main runs
// on rank 0 while the other ranks serve its mpi.Call, as in pyMOR.
package main

import (
	"fmt"

	"gompi/mpi"
)

// Square is called on every rank by rank 0's mpi.Call.
func Square(x int) int {
	fmt.Println("rank", mpi.Rank(), "squares", x)
	return x * x
}

func main() {
	r, err := mpi.Call("Square", 7)
	fmt.Println("rank 0 got", r, err)
}
