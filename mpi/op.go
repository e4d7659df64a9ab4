package mpi

import "fmt"

// Op is a reduction operation for Reduce and Allreduce.
type Op int

// The reductions offered to cells. The values index the C table in cmpi.go.
const (
	Sum  Op = 0
	Min  Op = 1
	Max  Op = 2
	Prod Op = 3
)

func (o Op) String() string {
	switch o {
	case Sum:
		return "Sum"
	case Min:
		return "Min"
	case Max:
		return "Max"
	case Prod:
		return "Prod"
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

func (o Op) valid() bool { return o >= Sum && o <= Prod }
