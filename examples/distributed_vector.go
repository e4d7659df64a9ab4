//go:build ignore

// A distributed vector in the style of pyMOR's MPIVectorArray, as a script:
//
//	mpirun -n 4 gompi-kernel run examples/distributed_vector.go
//
// Every rank holds its slice of each vector; rank 0 holds only ObjectIDs and
// computes lincomb, inner and norm through mpi.Call. The same code is in
// notebooks/distributed-vector.ipynb.
package main

import (
	"fmt"
	"math"

	"gompi/mpi"
)

// Part is one rank's slice [lo, hi) of a vector of length n.
type Part struct {
	lo   int
	data []float64
}

// NewPart makes this rank's slice of the vector v_i = sin(freq * i).
func NewPart(n int, freq float64) *Part {
	lo, hi := mpi.Rank()*n/mpi.Size(), (mpi.Rank()+1)*n/mpi.Size()
	p := &Part{lo: lo, data: make([]float64, hi-lo)}
	for i := range p.data {
		p.data[i] = math.Sin(freq * float64(lo+i))
	}
	return p
}

// Lincomb returns a*x + b*y, slice by slice.
func Lincomb(a float64, x *Part, b float64, y *Part) *Part {
	z := &Part{lo: x.lo, data: make([]float64, len(x.data))}
	for i := range z.data {
		z.data[i] = a*x.data[i] + b*y.data[i]
	}
	return z
}

// Inner is the inner product: local sums, then one Allreduce.
func Inner(x, y *Part) float64 {
	s := 0.0
	for i := range x.data {
		s += x.data[i] * y.data[i]
	}
	total := []float64{0}
	if err := mpi.Allreduce([]float64{s}, total, mpi.Sum); err != nil {
		panic(err)
	}
	return total[0]
}

// Norm is the Euclidean norm.
func Norm(x *Part) float64 { return math.Sqrt(Inner(x, x)) }

// Size is the number of elements this rank holds.
func (p *Part) Size() int { return len(p.data) }

func main() {
	const n = 10_000_000
	x, err := mpi.Call("FunctionCallManage", "NewPart", n, 0.001)
	check(err)
	y, err := mpi.Call("FunctionCallManage", "NewPart", n, 0.002)
	check(err)
	z, err := mpi.Call("FunctionCallManage", "Lincomb", 2.0, x, -1.0, y)
	check(err)
	inner, err := mpi.Call("FunctionCall", "Inner", x, y)
	check(err)
	norm, err := mpi.Call("FunctionCall", "Norm", z)
	check(err)
	local, err := mpi.Call("MethodCall", z, "Size")
	check(err)
	fmt.Printf("inner(x, y) = %.6f\nnorm(2x - y) = %.6f\nrank 0 holds %v of %d elements\n", inner, norm, local, n)
	for _, id := range []any{x, y, z} {
		_, err := mpi.Call("RemoveObject", id)
		check(err)
	}
}

func check(err error) {
	if err != nil {
		panic(err)
	}
}
