package tests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runScript runs `mpirun -n ranks gompi-kernel ARGS…` and returns its
// exit status, stdout and stderr.
func runScript(t *testing.T, ranks int, stdin string, args ...string) (int, string, string) {
	t.Helper()
	argv := mpirunArgs(ranks, args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	return runCommand(t, cmd)
}

// runCommand runs cmd and returns its exit status, stdout and stderr.
func runCommand(t *testing.T, cmd *exec.Cmd) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

func writeScript(t *testing.T, src string) string {
	p := filepath.Join(t.TempDir(), "script.go")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestScriptMode is `gompi-kernel run`: the script's main on rank 0 with
// the other ranks serving its Calls, arguments, exit statuses, --all.
func TestScriptMode(t *testing.T) {
	t.Run("driver", func(t *testing.T) {
		code, out, errs := runScript(t, 4, "", "run", filepath.Join(repoDir, "examples", "hello.go"))
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, out, errs)
		}
		for _, want := range []string{"[0] rank 0 got 49 <nil>", "[1] rank 1 squares 7", "[3] rank 3 squares 7"} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("distributed vector equals one rank", func(t *testing.T) {
		script := filepath.Join(repoDir, "examples", "distributed_vector.go")
		code, out4, errs := runScript(t, 4, "", "run", script)
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, out4, errs)
		}
		code, out1, errs := runScript(t, 1, "", "run", script)
		if code != 0 {
			t.Fatalf("exit %d at 1 rank\n%s\n%s", code, out1, errs)
		}
		for _, want := range []string{"inner(x, y) = -18.940777", "norm(2x - y) = 4999.937510"} {
			if !strings.Contains(out4, "[0] "+want) || !strings.Contains(out1, want) {
				t.Errorf("want %q at 4 and 1 ranks:\n%s\n%s", want, out4, out1)
			}
		}
		if !strings.Contains(out4, "rank 0 holds 2500000 of 10000000") {
			t.Errorf("rank 0 should hold a quarter:\n%s", out4)
		}
	})
	t.Run("args and exit status", func(t *testing.T) {
		p := writeScript(t, "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n\nfunc main() {\n\tfmt.Println(\"args\", os.Args[1:])\n\tos.Exit(3)\n}\n")
		code, out, _ := runScript(t, 2, "", "run", p, "x", "y z")
		if code != 3 {
			t.Errorf("exit %d, want the script's 3", code)
		}
		if !strings.Contains(out, "args [x y z]") {
			t.Errorf("stdout %q", out)
		}
	})
	t.Run("failure on one rank with --all", func(t *testing.T) {
		p := writeScript(t, "package main\n\nimport \"gompi/mpi\"\n\nfunc main() {\n\tif mpi.Rank() == 2 {\n\t\tpanic(\"rank two broke\")\n\t}\n\tmpi.Barrier()\n}\n")
		code, out, errs := runScript(t, 4, "", "run", "--all", p)
		if code == 0 {
			t.Fatalf("exit 0 after a panic on rank 2\n%s\n%s", out, errs)
		}
		if !strings.Contains(errs, "rank 2") || !strings.Contains(errs, "rank two broke") {
			t.Errorf("stderr should name rank 2 and the panic:\n%s", errs)
		}
	})
	t.Run("SPMD with EventLoop", func(t *testing.T) {
		p := writeScript(t, "package main\n\nimport (\n\t\"fmt\"\n\t\"gompi/mpi\"\n)\n\nfunc Twice(x int) int { return 2 * x }\n\nfunc main() {\n\tif mpi.Rank() != 0 {\n\t\tmpi.EventLoop()\n\t\treturn\n\t}\n\tr, err := mpi.Call(\"Twice\", 21)\n\tfmt.Println(\"twice\", r, err)\n\tmpi.Quit()\n}\n")
		code, out, errs := runScript(t, 3, "", "run", "--all", p)
		if code != 0 || !strings.Contains(out, "[0] twice 42 <nil>") {
			t.Errorf("exit %d\n%s\n%s", code, out, errs)
		}
	})
	t.Run("SPMD without Quit", func(t *testing.T) {
		// Rank 0 forgets mpi.Quit: the end of its main releases the others.
		p := writeScript(t, "package main\n\nimport (\n\t\"fmt\"\n\t\"gompi/mpi\"\n)\n\nfunc main() {\n\tif mpi.Rank() != 0 {\n\t\tmpi.EventLoop()\n\t\tfmt.Println(\"released\")\n\t}\n}\n")
		code, out, errs := runScript(t, 3, "", "run", "--all", p)
		if code != 0 || !printedBy(out, 1, "released") || !printedBy(out, 2, "released") {
			t.Errorf("exit %d\n%s\n%s", code, out, errs)
		}
	})
	t.Run("usage", func(t *testing.T) {
		code, _, errs := runScript(t, 1, "", "run")
		if code != 2 || !strings.Contains(errs, "which script?") {
			t.Errorf("exit %d: %s", code, errs)
		}
		code, _, errs = runScript(t, 1, "", "run", "/no/such/script.go")
		if code == 0 || !strings.Contains(errs, "no such file") {
			t.Errorf("missing script: exit %d: %s", code, errs)
		}
	})
}

// TestREPL is `gompi-kernel repl` fed from a pipe: multi-line input, every
// rank runs each entry, results and errors are shown, and it continues.
func TestREPL(t *testing.T) {
	in := "x := mpi.Rank()\nfunc f() int {\nreturn 10 + x\n}\nf()\nfmt.Println(\"r\", f())\nundefinedName\nmpi.Size()\n"
	code, out, errs := runScript(t, 2, in, "repl")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{"...... ", "gompi> 10\n", "[0] r 10\n", "[1] r 11\n", "gompi> 2\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errs, "undefined: undefinedName") {
		t.Errorf("stderr lacks the error:\n%s", errs)
	}
}
