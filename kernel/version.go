package kernel

import (
	"runtime/debug"
	"strings"
)

// Version is the kernel's version as the Go toolchain recorded it in the
// binary: the module version for `go install …@vX`, otherwise a development
// version naming the commit. Nothing is typed in by hand, so it cannot drift.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return strings.TrimPrefix(v, "v")
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "-dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev == "" {
		return "devel"
	}
	return "devel+" + rev + modified
}
