package console

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/gompi-kernel/gompi-kernel/internal/loopbind"
	"github.com/gompi-kernel/gompi-kernel/internal/mpiimpl"
	"github.com/gompi-kernel/gompi-kernel/jupyter"
)

// kernelProcess is a kernel the console started: mpirun (or the binary
// alone for one rank) in a process group of its own, so that nothing the
// terminal does reaches it except through the console.
type kernelProcess struct {
	info     jupyter.ConnectionInfo
	connFile string
	logFile  string
	cmd      *exec.Cmd
	done     chan struct{} // closed when the process exited
}

// startKernel writes a connection file and starts the kernel on o.Ranks
// ranks, waiting until its shell port accepts connections.
func startKernel(ctx context.Context, o Options) (*kernelProcess, error) {
	if o.Ranks < 1 {
		return nil, fmt.Errorf("console: --ranks %d: want at least 1", o.Ranks)
	}
	exe := o.Executable
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("console: find the gompi-kernel binary: %w", err)
		}
	}
	info, err := jupyter.NewConnectionInfo("127.0.0.1")
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	dir, err := jupyter.RuntimeDir()
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("console: runtime dir: %w", err)
	}
	id := uuid.NewString()
	k := &kernelProcess{info: info, connFile: filepath.Join(dir, "kernel-"+id+".json"),
		logFile: filepath.Join(dir, "kernel-"+id+".log"), done: make(chan struct{})}
	if err := info.WriteFile(k.connFile); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	argv := []string{exe, "--connection-file", k.connFile}
	if o.Ranks > 1 {
		mpirun := o.MPIRun
		if mpirun == "" {
			// The launcher of the MPI this binary links, not whatever
			// mpirun is first on PATH.
			if mpirun, err = mpiimpl.FindLauncher(); err != nil {
				_ = os.Remove(k.connFile)
				return nil, fmt.Errorf("console: a kernel on %d ranks: %w", o.Ranks, err)
			}
		}
		// As the kernelspec does: more ranks than cores is normal when
		// exploring; bound ranks would share cores.
		launch := append([]string{mpirun, "-n", strconv.Itoa(o.Ranks)}, mpiimpl.LauncherFlags(mpirun)...)
		argv = append(launch, argv...)
	}
	logf, err := os.OpenFile(k.logFile, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		_ = os.Remove(k.connFile)
		return nil, fmt.Errorf("console: kernel log: %w", err)
	}
	defer logf.Close()
	k.cmd = exec.Command(argv[0], argv[1:]...)
	k.cmd.Stdout, k.cmd.Stderr = logf, logf
	if kind := mpiimpl.Detect(argv[0]); o.Ranks > 1 && (kind == mpiimpl.OpenMPI || kind == mpiimpl.Hydra) {
		// Every rank runs here: the launcher's own listener stays on
		// loopback (internal/loopbind).
		if lib, err := loopbind.Library(""); err != nil {
			fmt.Fprintf(logf, "console: the launcher's own port will listen on every address: %v\n", err)
		} else {
			k.cmd.Env = loopbind.Preload(os.Environ(), lib)
		}
	}
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := k.cmd.Start(); err != nil {
		_ = os.Remove(k.connFile)
		return nil, fmt.Errorf("console: start %s: %w", strings.Join(argv, " "), err)
	}
	go func() {
		_ = k.cmd.Wait()
		close(k.done)
	}()
	if err := k.waitListening(ctx); err != nil {
		k.stop(false)
		return nil, fmt.Errorf("%w\n%s", err, k.logTail())
	}
	return k, nil
}

// waitListening waits until the kernel's shell port accepts a connection
// (a ZeroMQ dial before that would fail), or the kernel exits.
func (k *kernelProcess) waitListening(ctx context.Context) error {
	addr := net.JoinHostPort(k.info.IP, strconv.Itoa(k.info.ShellPort))
	deadline := time.Now().Add(120 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return conn.Close()
		}
		select {
		case <-k.done:
			return errors.New("console: the kernel exited while starting")
		case <-ctx.Done():
			return fmt.Errorf("console: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("console: the kernel did not listen on %s within 120 s", addr)
		}
	}
}

// stop waits for the kernel to exit after a shutdown_request (asked: the
// console sent one), and ends its process group if it does not; the files
// the console wrote go.
func (k *kernelProcess) stop(asked bool) {
	grace := 15 * time.Second
	if !asked {
		grace = 0 // the console failed before it could ask
	}
	select {
	case <-k.done:
	case <-time.After(grace):
		_ = syscall.Kill(-k.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-k.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-k.cmd.Process.Pid, syscall.SIGKILL)
			<-k.done
		}
	}
	_ = os.Remove(k.connFile)
	_ = os.Remove(k.logFile)
}

// logTail is the end of the kernel's output, to explain a failed start.
func (k *kernelProcess) logTail() string {
	b, err := os.ReadFile(k.logFile)
	if err != nil || len(b) == 0 {
		return "(the kernel wrote nothing)"
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return "kernel output:\n" + string(b)
}

// readExisting reads the connection file of a running kernel; a bare name
// (kernel-…json, as jupyter console --existing accepts) is looked up in the
// Jupyter runtime directory.
func readExisting(name string) (jupyter.ConnectionInfo, error) {
	info, err := jupyter.ReadConnectionFile(name)
	if err == nil || strings.ContainsRune(name, os.PathSeparator) {
		if err != nil {
			return info, fmt.Errorf("console: %w", err)
		}
		return info, nil
	}
	dir, derr := jupyter.RuntimeDir()
	if derr != nil {
		return info, fmt.Errorf("console: %w", err)
	}
	if info, err = jupyter.ReadConnectionFile(filepath.Join(dir, name)); err != nil {
		return info, fmt.Errorf("console: %w", err)
	}
	return info, nil
}
