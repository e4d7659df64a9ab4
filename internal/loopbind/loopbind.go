// Package loopbind keeps the MPI launcher off the network when every rank
// of a kernel runs on this host. OpenMPI 4.1's mpirun binds its
// out-of-band listener to every address whatever its MCA settings
// (oob_tcp_if_include changes what it dials, not what it binds), and MPICH's
// Hydra mpiexec binds its control socket, which every rank inherits, the
// same way; a stranger on the network could then speak to the job's
// launcher. The kernel's own launches (the kernelspec, the console) preload
// a tiny C library into the launcher that turns wildcard binds into
// loopback binds (shim/loopbind.c). It is built from source with the C
// compiler cgo already needs, once, into the user's cache.
package loopbind

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

//go:embed shim/loopbind.c
var source []byte

// Library returns the path of the shim library in dir (the user's cache
// when dir is ""), building it there first if needed.
func Library(dir string) (string, error) {
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("loopbind: no cache directory: %w", err)
		}
		dir = filepath.Join(cache, "gompi-kernel")
	}
	sum := sha256.Sum256(source)
	lib := filepath.Join(dir, "loopbind-"+hex.EncodeToString(sum[:6])+".so")
	if _, err := os.Stat(lib); err == nil {
		return lib, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("loopbind: %w", err)
	}
	src, err := os.CreateTemp(dir, "loopbind-*.c")
	if err != nil {
		return "", fmt.Errorf("loopbind: %w", err)
	}
	defer os.Remove(src.Name())
	if _, err := src.Write(source); err != nil {
		src.Close()
		return "", fmt.Errorf("loopbind: %w", err)
	}
	src.Close()
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	tmp := lib + ".tmp" + fmt.Sprint(os.Getpid())
	out, err := exec.Command(cc, "-shared", "-fPIC", "-O2", "-o", tmp, src.Name(), "-ldl").CombinedOutput()
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("loopbind: building the loopback shim with %s: %w: %s", cc, err, strings.TrimSpace(string(out)))
	}
	if err := os.Rename(tmp, lib); err != nil {
		return "", fmt.Errorf("loopbind: %w", err)
	}
	return lib, nil
}

// Preload returns environ with the shim added to LD_PRELOAD (kept in front
// of what was there).
func Preload(environ []string, lib string) []string {
	out := make([]string, 0, len(environ)+1)
	value := lib
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "LD_PRELOAD="); ok {
			if v != "" {
				value = lib + ":" + v
			}
			continue
		}
		out = append(out, kv)
	}
	return append(out, "LD_PRELOAD="+value)
}
