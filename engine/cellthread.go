package engine

// cellThread runs rank 0's cells one after another on one long-lived
// goroutine (a worker runs its cells on its own loop's goroutine,
// workerCell.runHere). A fresh goroutine per cell starts with a small stack that the
// interpreter's parser and compiler then grow, by copying, on every cell:
// that copying was 14 % of a worker's CPU per trivial cell
// (bench/cellcpu.py --profile). The runtime shrinks the kept stack again
// at garbage collections if it stays unused.
type cellThread struct {
	jobs chan func()
}

func newCellThread() *cellThread {
	t := &cellThread{jobs: make(chan func(), 1)}
	go t.serve()
	return t
}

// serve runs jobs until the channel closes. A job that ends its goroutine
// (runtime.Goexit in a cell) takes this one with it; another takes over so
// that later cells still run.
func (t *cellThread) serve() {
	normal := false
	defer func() {
		if !normal {
			go t.serve()
		}
	}()
	for f := range t.jobs {
		f()
	}
	normal = true
}

// run starts f on the thread. The previous job has normally ended by then
// (a rank runs one cell at a time). Should one still be running (a cell
// that ignored its interrupt), f gets a goroutine of its own rather than
// holding up the caller; the session runs one cell at a time anyway.
func (t *cellThread) run(f func()) {
	select {
	case t.jobs <- f:
	default:
		go f()
	}
}
