package engine

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
)

// profileEnv names a directory into which every rank writes a CPU profile
// of its whole life, cpu.<rank>.pprof: how bench/README.md's figures of the
// CPU a cell costs were found (bench/cellcpu.py --profile).
const profileEnv = "GOMPI_CPUPROFILE"

// startProfile starts the CPU profile if profileEnv asks for one; the
// returned function stops it.
func startProfile(rank int, log *slog.Logger) func() {
	dir := os.Getenv(profileEnv)
	if dir == "" {
		return func() {}
	}
	path := filepath.Join(dir, fmt.Sprintf("cpu.%d.pprof", rank))
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		log.Error("CPU profile", "path", path, "err", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			log.Error("CPU profile", "path", path, "err", err)
		}
	}
}
