package tests

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestPyMORStyle drives the pyMOR API on a real 4-rank kernel: functions
// defined on every rank, a %%rank0 driver cell calling them through Call
// with ObjectIDs, methods of cell types, errors that name the rank, Info,
// RemoveObject, %%ranks subsets, and the SPMD EventLoop/Quit style.
func TestPyMORStyle(t *testing.T) {
	k := startKernel(t, 4)
	res := drive(t, k.connFile,
		// 0: on every rank: a type with methods and constructors.
		exec1(`type Vec struct{ data []float64 }
func NewVec(n int) *Vec {
	v := &Vec{data: make([]float64, n)}
	for i := range v.data { v.data[i] = float64(mpi.Rank() + 1) }
	return v
}
func (v *Vec) Dot(w *Vec) float64 {
	s := 0.0
	for i := range v.data { s += v.data[i] * w.data[i] }
	return s
}
func (v *Vec) Scale(a float64) { for i := range v.data { v.data[i] *= a } }
func Hello(who string) string { fmt.Println("hello", who, "from", mpi.Rank()); return "hi " + who }`),
		// 1: driver cell: ids agree, methods on cell types, rank 0's result.
		exec1(`%%rank0
id, err := mpi.Call("FunctionCallManage", "NewVec", 10)
if err != nil { panic(err) }
fmt.Println("id", id)
_, err = mpi.Call("MethodCall", id, "Scale", 2.0)
if err != nil { panic(err) }
d, err := mpi.Call("MethodCall", id, "Dot", id)
fmt.Println("dot on rank 0:", d, err)
r, err := mpi.Call("Hello", "world")
fmt.Println("result:", r, err)`),
		// 2: errors name the rank and do not hang.
		exec1(`%%rank0
_, err1 := mpi.Call("MethodCall", id, "Nope")
fmt.Println("E1", err1)
_, err2 := mpi.Call("NoSuchFunction")
fmt.Println("E2", err2)
_, err3 := mpi.Call("FunctionCall", "NewVec", "ten")
fmt.Println("E3", err3)
_, err4 := mpi.Call("GetObject", mpi.ObjectID(999))
fmt.Println("E4", err4)`),
		// 3: Info lists each rank and its objects.
		exec1(`mpi.Info()`),
		// 4: RemoveObject frees it everywhere.
		exec1("%%rank0\n_, err := mpi.Call(\"RemoveObject\", id)\nfmt.Println(\"removed\", err)\n_, err = mpi.Call(\"GetObject\", id)\nfmt.Println(\"after\", err)"),
		// 5: a subset runs, the rest serves.
		exec1("%%ranks 1-2\nfmt.Println(\"subset\", mpi.Rank())"),
		// 6: SPMD style: workers serve in EventLoop until rank 0 quits.
		exec1(`if mpi.Rank() == 0 {
	r, err := mpi.Call("Hello", "spmd")
	fmt.Println("got", r, err)
	mpi.Quit()
} else {
	mpi.EventLoop()
	fmt.Println("released", mpi.Rank())
}`),
		// 7: Call in a cell where the others never serve: an error, not a hang.
		exec1(`if mpi.Rank() == 0 { _, err := mpi.Call("Hello", "x"); fmt.Println("CALL", err) }`),
		// 8: the kernel is still fine.
		exec1(`mpi.Size()`),
		action{"do": "shutdown"},
	)
	for i, r := range res[:len(res)-1] {
		if r.status() != "ok" {
			t.Errorf("cell %d: %v\n%s", i, r.Reply, r.stream("stderr"))
		}
	}
	out := res[1].stream("stdout")
	for _, want := range []string{"[0] id ObjectID(1)\n", "[0] dot on rank 0: 40 <nil>\n", "[0] result: hi world <nil>\n", "[2] hello world from 2\n", "[3] hello world from 3\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("driver cell lacks %q:\n%s", want, out)
		}
	}
	out = res[2].stream("stdout")
	for _, want := range []string{`E1 Call("MethodCall"): ranks 0-3: `, "Nope", `E2 Call("NoSuchFunction"): ranks 0-3:`, "E3 ", "E4 ", "ObjectID(999)"} {
		if !strings.Contains(out, want) {
			t.Errorf("errors lack %q:\n%s", want, out)
		}
	}
	out = res[3].stream("stdout")
	for r := 0; r < 4; r++ {
		if want := fmt.Sprintf("[%d] rank %d/4", r, r); !strings.Contains(out, want) || !strings.Contains(out, "1 managed object: ObjectID(1) ") {
			t.Errorf("Info lacks %q or the managed object:\n%s", want, out)
		}
	}
	if out = res[4].stream("stdout"); !strings.Contains(out, "[0] removed <nil>") || !strings.Contains(out, "[0] after ") || !strings.Contains(out, "ranks 0-3") {
		t.Errorf("RemoveObject:\n%s", out)
	}
	if out = res[5].stream("stdout"); !strings.Contains(out, "[1] subset 1") || !strings.Contains(out, "[2] subset 2") || strings.Contains(out, "[0] subset") || strings.Contains(out, "[3] subset") {
		t.Errorf("%%%%ranks 1-2:\n%s", out)
	}
	out = res[6].stream("stdout")
	for _, want := range []string{"[0] got hi spmd <nil>", "[1] hello spmd from 1", "[1] released 1", "[3] released 3"} {
		if !strings.Contains(out, want) {
			t.Errorf("EventLoop/Quit lacks %q:\n%s", want, out)
		}
	}
	if out = res[7].stream("stdout"); !strings.Contains(out, "without serving") {
		t.Errorf("Call without serving ranks:\n%s", out)
	}
	if got := textResult(res[8]); got != "4" {
		t.Errorf("after: %q", got)
	}
	if err := k.wait(30 * time.Second); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// TestMagics: %help, %time, %who, %mpi_info, %env, %reset and an unknown
// magic, on 4 ranks.
func TestMagics(t *testing.T) {
	k := startKernel(t, 4)
	res := drive(t, k.connFile,
		exec1("%help"),
		exec1("%time\ntype P struct{ X int }\nn := mpi.Rank()\np := P{1}\nif mpi.Rank() == 2 { time.Sleep(300 * time.Millisecond) }"),
		exec1("%who"),
		exec1("%mpi_info"),
		exec1("%env GOMPI_TEST_VAR=hello world"),
		exec1(`os.Getenv("GOMPI_TEST_VAR")`),
		exec1("%env GOMPI_TEST_VAR"),
		exec1("%reset"),
		exec1("n"),
		exec1("%frobnicate"),
		action{"do": "shutdown"},
	)
	if !strings.Contains(res[0].stream("stdout"), "%%rank0") || !strings.Contains(res[0].stream("stdout"), "%who") {
		t.Errorf("%%help:\n%s", res[0].stream("stdout"))
	}
	if out := res[1].stream("stdout"); !strings.Contains(out, "Wall time: [0] ") || !strings.Contains(out, "slowest: rank 2") {
		t.Errorf("%%time:\n%s", out)
	}
	who := res[2].stream("stdout")
	for _, want := range []string{"P ", "type", "n ", "var   int", "p "} {
		if !strings.Contains(who, want) {
			t.Errorf("%%who lacks %q:\n%s", want, who)
		}
	}
	if strings.Count(res[3].stream("stdout"), "/4 on ") != 4 {
		t.Errorf("%%mpi_info:\n%s", res[3].stream("stdout"))
	}
	if got := textResult(res[5]); got != `"hello world"` {
		t.Errorf("variable set by %%env reads %s", got)
	}
	if !strings.Contains(res[6].stream("stdout"), "hello world") {
		t.Errorf("%%env NAME:\n%s", res[6].stream("stdout"))
	}
	if res[8].status() != "error" || !strings.Contains(fmt.Sprint(res[8].Reply["evalue"]), "undefined: n") {
		t.Errorf("after %%reset, n should be undefined: %v", res[8].Reply)
	}
	if res[9].status() != "error" || !strings.Contains(fmt.Sprint(res[9].Reply["evalue"]), "unknown magic %frobnicate") {
		t.Errorf("unknown magic: %v", res[9].Reply)
	}
	if err := k.wait(30 * time.Second); err != nil {
		t.Error(err)
	}
}

// TestInput: fmt.Scan on rank 0 asks the frontend (input_request) when it
// allows stdin; the other ranks get a clear EOF error; without allow_stdin
// rank 0 gets one too.
func TestInput(t *testing.T) {
	k := startKernel(t, 2)
	res := drive(t, k.connFile,
		action{"do": "execute", "code": `var name string
var err error
if mpi.Rank() == 0 {
	fmt.Print("Your name: ")
	_, err = fmt.Scanln(&name)
} else {
	_, err = fmt.Scanln(&name)
}
fmt.Println("name:", name, "err:", err)`, "stdin": []string{"Grace"}},
		exec1(`var s string; _, err := fmt.Scanln(&s); fmt.Println(err)`),
		action{"do": "shutdown"},
	)
	reqs := res[0].of("input_request")
	if len(reqs) != 1 {
		t.Fatalf("%d input_requests, want 1: %+v", len(reqs), res[0].Msgs)
	}
	out := res[0].stream("stdout")
	if !strings.Contains(out, "[0] Your name: \n") || !strings.Contains(out, "[0] name: Grace err: <nil>") {
		t.Errorf("rank 0:\n%s", out)
	}
	if !strings.Contains(out, "[1] name:  err: read input: rank 1 has no standard input") {
		t.Errorf("rank 1 should get a clear error:\n%s", out)
	}
	if out := res[1].stream("stdout"); !strings.Contains(out, "[0] read input: this frontend does not allow input") || !strings.Contains(out, "EOF") {
		t.Errorf("without allow_stdin:\n%s", out)
	}
	if err := k.wait(30 * time.Second); err != nil {
		t.Error(err)
	}
}
