package compile

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// CompileError is a build that failed because of the cell's code. Its
// positions are the cell's own line:column.
type CompileError struct {
	Errors []Position // in the order the compiler reported them
	// Other holds lines of the go command's output that name no position
	// in the cell (module resolution, linker), verbatim.
	Other []string
}

// Position is one compiler message at a place in the cell.
type Position struct {
	Line, Col int
	Msg       string
}

func (e *CompileError) Error() string {
	var lines []string
	for _, p := range e.Errors {
		if p.Col > 0 {
			lines = append(lines, fmt.Sprintf("%d:%d: %s", p.Line, p.Col, p.Msg))
		} else {
			lines = append(lines, fmt.Sprintf("%d: %s", p.Line, p.Msg))
		}
	}
	lines = append(lines, e.Other...)
	if len(lines) == 0 {
		return "compile: the build failed without a message"
	}
	return strings.Join(lines, "\n")
}

// ToolchainError says that no usable Go toolchain was found: plugins must
// be built by the very toolchain that built the kernel.
type ToolchainError struct {
	Want  string // the kernel's toolchain, e.g. go1.26.8
	Found string // the go command's version, "" if there is none
	Path  string // the go command that was tried
	Err   error  // why it could not be run, if it could not
}

func (e *ToolchainError) Error() string {
	fix := fmt.Sprintf("install %s and put its bin directory first on PATH, or, with any Go ≥ 1.21 on PATH, set GOTOOLCHAIN=%s in the kernel's environment and the go command fetches it", e.Want, e.Want)
	if e.Found == "" {
		return fmt.Sprintf("compiled cells need the Go toolchain %s (the one that built this kernel), but there is no go command on PATH (%v): %s", e.Want, e.Err, fix)
	}
	return fmt.Sprintf("compiled cells need the Go toolchain %s (the one that built this kernel), but %s is %s; a plugin built by another toolchain cannot be loaded: %s", e.Want, e.Path, e.Found, fix)
}

func (e *ToolchainError) Unwrap() error { return e.Err }

// ConflictError is a module the code needs at a version other than the one
// compiled into the kernel: a plugin and its host must share one version of
// every package.
type ConflictError struct {
	Module string
	Kernel string // the version compiled into the kernel
	Wanted string // the version the build wanted
	By     string // who wanted it: "%go get …" or module@version that requires it
	// Also lists other kernel modules the same build raised with it
	// ("golang.org/x/sync v0.16.0 → v0.17.0").
	Also []string
}

func (e *ConflictError) Error() string {
	msg := fmt.Sprintf("%s %s (wanted by %s) conflicts with %s %s compiled into the kernel: a plugin must use the kernel's version of every module it shares with it. ",
		e.Module, e.Wanted, e.By, e.Module, e.Kernel)
	if strings.HasPrefix(e.By, "%go") {
		msg += fmt.Sprintf("Use %s (%%go get %s@%s)", e.Kernel, e.Module, e.Kernel)
	} else {
		msg += fmt.Sprintf("Pin a version of %s that needs at most %s %s (%%go get %s@VERSION)",
			strings.Split(e.By, "@")[0], e.Module, e.Kernel, strings.Split(e.By, "@")[0])
	}
	msg += fmt.Sprintf(", or rebuild the kernel with %s %s", e.Module, e.Wanted)
	if len(e.Also) > 0 {
		msg += " (with it the build raised: " + strings.Join(e.Also, ", ") + ")"
	}
	return msg
}

// cellPos matches a compiler message at a position in the cell's file.
var cellPos = regexp.MustCompile(`^(?:\./)?` + regexp.QuoteMeta(cellFile) + `:(\d+)(?::(\d+))?: (.*)$`)

// parseBuildOutput turns the go command's output into a CompileError.
func parseBuildOutput(out string) *CompileError {
	e := &CompileError{}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "# ") {
			continue
		}
		if m := cellPos.FindStringSubmatch(line); m != nil {
			l, _ := strconv.Atoi(m[1])
			c, _ := strconv.Atoi(m[2])
			e.Errors = append(e.Errors, Position{Line: l, Col: c, Msg: m[3]})
			continue
		}
		if strings.HasPrefix(line, "\t") && len(e.Errors) > 0 {
			// continuation of a message ("have (int) want (string)")
			e.Errors[len(e.Errors)-1].Msg += "\n" + line
			continue
		}
		e.Other = append(e.Other, line)
	}
	return e
}
