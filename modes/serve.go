package modes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gompi-kernel/gompi-kernel/engine"
	"github.com/gompi-kernel/gompi-kernel/jupyter"
	"github.com/gompi-kernel/gompi-kernel/kernel"
	"github.com/gompi-kernel/gompi-kernel/mpi"
)

// Config is what the command line decides for a kernel served to Jupyter.
type Config struct {
	// ConnectionFile is the file a frontend wrote (kernelspec argv). If it
	// does not exist, the kernel writes it with fresh ports and a new key.
	// Empty: the kernel writes kernel-<id>.json in the Jupyter runtime dir.
	ConnectionFile string
	// IP to bind when the kernel writes the connection file itself.
	IP  string
	Log *slog.Logger
	// Hint receives the line to type to connect a console (rank 0 only,
	// and only when the kernel wrote the connection file: a frontend that
	// wrote it knows it already).
	Hint io.Writer
	// Stderr receives, as plain text, why rank 0 cannot serve where it
	// runs (the log's error then points to it); nil: the error holds it.
	Stderr io.Writer
}

// Serve starts MPI and serves: rank 0 speaks Jupyter and coordinates, the
// other ranks run the worker event loop. It returns when the kernel was shut
// down (shutdown_request, or ctx cancelled by a signal).
func Serve(ctx context.Context, cfg Config) error {
	early := listenEarly(cfg)
	err := engine.Run(ctx, cfg.Log, nil, func(c *engine.Coordinator) error {
		srv := early
		early = nil // serve owns it now
		return serve(ctx, cfg, c, cfg.Log.With("rank", 0), srv)
	})
	if early != nil {
		early.Close()
	}
	return err
}

// listenEarly binds, on rank 0 before MPI starts, the ports of a
// connection file that a frontend wrote. The frontend picked them before
// it started the kernel, and until rank 0 binds them any process that asks
// for an ephemeral port may get one of them; MPI's start-up and the
// interpreter's made that window seconds long at 64 ranks. (The launcher's
// own listeners, bound before it starts rank 0, stay in the window: OpenMPI's
// mpirun binds three.) nil when this is not rank 0 by the launcher's word,
// when the kernel writes the connection file itself (its ports are bound
// first, then written), or when binding fails: serve then binds after
// start-up as before and reports what goes wrong.
func listenEarly(cfg Config) *jupyter.Server {
	if cfg.ConnectionFile == "" {
		return nil
	}
	if rank, ok := mpi.LaunchRank(); !ok || rank != 0 {
		return nil
	}
	info, err := jupyter.ReadConnectionFile(cfg.ConnectionFile)
	if err != nil {
		return nil
	}
	if h, err := thisHost(); err == nil {
		if _, fatal := h.placement(info.IP, true); fatal {
			return nil
		}
	}
	srv, err := jupyter.Listen(info, cfg.Log)
	if err != nil {
		cfg.Log.Debug("binding the connection file's ports before MPI start-up; trying again after it", "err", err)
		return nil
	}
	return srv
}

// drainAfterSignal is how long a terminated kernel lets the request in
// flight finish. OpenMPI's mpirun follows its SIGTERM with a SIGKILL after
// about a second.
const drainAfterSignal = 800 * time.Millisecond

// serve is rank 0: the Jupyter server and the kernel core in front of the
// coordinator. srv is the server listenEarly made, or nil.
func serve(ctx context.Context, cfg Config, coord *engine.Coordinator, log *slog.Logger, srv *jupyter.Server) error {
	info, path, wrote, err := connection(cfg, log)
	if err != nil {
		if srv != nil {
			srv.Close()
		}
		return err
	}
	if wrote {
		defer func() {
			if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				log.Warn("removing connection file", "path", path, "err", rerr)
			}
		}()
	}
	if srv == nil {
		// libzmq's threads start here; listenEarly's started before
		// sysmon's slack was lengthened.
		if err = coord.PlainThread(func() (err error) { srv, err = jupyter.Listen(info, log); return err }); err != nil {
			return fmt.Errorf("listen on %s: %w", path, err)
		}
	}
	defer srv.Close()

	// The kernel's own context ends with a shutdown_request, or shortly
	// after a signal: mpirun sends SIGTERM to every rank when one of them
	// died, and the request in flight (the cell that saw the death) must
	// first send the frontend its error and reply.
	parent := ctx
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	k := kernel.NewKernel(ctx, coord, log, func(restart bool) {
		log.Info("shutdown requested", "restart", restart)
		stop()
	})
	go func() {
		select {
		case <-parent.Done():
			if !k.Drain(drainAfterSignal) {
				log.Warn("a request was still running when the kernel was terminated")
			}
			stop()
		case <-ctx.Done():
		}
	}()
	if cfg.Hint != nil && wrote {
		fmt.Fprintf(cfg.Hint, "gompi-kernel %s on %d rank(s). To connect a console:\n    jupyter console --existing %s\n", kernel.Version(), coord.Size(), path)
	}
	if err := srv.Publish(nil, jupyter.MsgStatus, jupyter.Status{ExecutionState: "starting"}, nil); err != nil {
		log.Warn("publishing starting status", "err", err)
	}
	err = srv.Serve(ctx, jupyter.HandlerFunc(func(req *jupyter.Request) { k.Serve(req) }))
	if parent.Err() != nil {
		// A signal, not a shutdown_request: mpirun sends SIGTERM to every
		// rank when one of them died, and says which on its stderr.
		log.Warn("kernel terminated by a signal; if a rank died, mpirun names it above or below")
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// connection reads or writes the connection file. wrote reports whether
// this kernel wrote it (and so must remove it when it ends). Before either,
// it checks that rank 0 runs where the frontend will look for it.
func connection(cfg Config, log *slog.Logger) (info jupyter.ConnectionInfo, path string, wrote bool, err error) {
	path = cfg.ConnectionFile
	if path != "" {
		info, err = jupyter.ReadConnectionFile(path)
		if err == nil {
			return info, path, false, checkPlacement(cfg, log, info.IP, path)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return info, path, false, err
		}
	} else {
		dir, err := jupyter.RuntimeDir()
		if err != nil {
			return info, "", false, err
		}
		path = filepath.Join(dir, "kernel-"+uuid.NewString()+".json")
	}
	if err := checkPlacement(cfg, log, cfg.IP, ""); err != nil {
		return info, path, false, err
	}
	info, err = jupyter.NewConnectionInfo(cfg.IP)
	if err != nil {
		return info, path, false, err
	}
	info.KernelName = "gompi"
	if err := info.WriteFile(path); err != nil {
		return info, path, false, err
	}
	return info, path, true, nil
}

// checkPlacement fails when rank 0 cannot serve at ip (named by the
// connection file at path, or by --ip when path is ""), saying why on
// stderr, and warns when it can serve but only where no frontend looks.
func checkPlacement(cfg Config, log *slog.Logger, ip, path string) error {
	h, err := thisHost()
	if err != nil {
		log.Warn("cannot tell where rank 0 runs", "err", err)
		return nil
	}
	problem, fatal := h.placement(ip, path != "")
	if problem == "" {
		return nil
	}
	if path != "" {
		problem = strings.Replace(problem, "The connection file", "The connection file "+path, 1)
	}
	if !fatal {
		log.Warn(strings.ReplaceAll(problem, "\n", " "))
		return nil
	}
	if cfg.Stderr == nil {
		return fmt.Errorf("rank 0 on %s cannot serve at ip %s: %s", h.name, ip, strings.ReplaceAll(problem, "\n", " "))
	}
	fmt.Fprintf(cfg.Stderr, "gompi-kernel: %s\n", strings.ReplaceAll(problem, "\n", "\n  "))
	return fmt.Errorf("rank 0 on %s cannot serve at ip %s (the reason is above)", h.name, ip)
}
