package kernel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/gompi-kernel/gompi-kernel/jupyter"
	"github.com/gompi-kernel/gompi-kernel/mpi"
)

// Config is what the command line decides for a kernel run.
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
}

// Run starts MPI and serves: rank 0 speaks Jupyter and coordinates, the
// other ranks run the worker event loop. It returns when the kernel was shut
// down (shutdown_request, or ctx cancelled by a signal).
func Run(ctx context.Context, cfg Config) error {
	start := time.Now()
	if err := mpi.Init(); err != nil {
		return fmt.Errorf("start MPI: %w", err)
	}
	defer func() {
		if err := mpi.Finalize(); err != nil {
			cfg.Log.Error("finalize MPI", "err", err)
		}
	}()
	cfg.Log.Debug("MPI initialised", "after", time.Since(start))
	f, err := NewFabric()
	if err != nil {
		return err
	}
	defer f.Close()
	log := cfg.Log.With("rank", f.Rank())
	log.Debug("MPI and fabric up", "after", time.Since(start))
	r, err := NewRank(f)
	if err != nil {
		return err
	}
	log.Debug("interpreter ready", "after", time.Since(start))
	if f.Rank() != 0 {
		err = NewWorker(f, r, log).Run(ctx)
	} else {
		err = serve(ctx, cfg, f, r, log)
	}
	if err != nil && f.Size() > 1 {
		// The other ranks may wait for this one forever; only an abort is
		// sure to end the whole job, and with it mpirun.
		log.Error("kernel failed, aborting the MPI job", "err", err)
		mpi.Abort(1)
	}
	return err
}

// serve is rank 0: the Jupyter server, the kernel core and the coordinator.
func serve(ctx context.Context, cfg Config, f *Fabric, r *Rank, log *slog.Logger) (err error) {
	coord := NewCoordinator(f, r, log)
	defer func() {
		// Whatever happened here, the workers must leave their loops, or
		// mpirun waits for them forever.
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if serr := coord.Shutdown(sctx); serr != nil {
			log.Error("stopping workers", "err", serr)
			err = errors.Join(err, serr)
		}
	}()

	info, path, wrote, err := connection(cfg)
	if err != nil {
		return err
	}
	if wrote {
		defer func() {
			if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				log.Warn("removing connection file", "path", path, "err", rerr)
			}
		}()
	}
	srv, err := jupyter.Listen(info, log)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", path, err)
	}
	defer srv.Close()

	parent := ctx
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	k := NewKernel(ctx, coord, log, func(restart bool) {
		log.Info("shutdown requested", "restart", restart)
		stop()
	})
	if cfg.Hint != nil && wrote {
		fmt.Fprintf(cfg.Hint, "gompi-kernel %s on %d rank(s). To connect a console:\n    jupyter console --existing %s\n", Version(), f.Size(), path)
	}
	if err := srv.Publish(nil, jupyter.MsgStatus, jupyter.Status{ExecutionState: "starting"}, nil); err != nil {
		log.Warn("publishing starting status", "err", err)
	}
	err = srv.Serve(ctx, k)
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
// this kernel wrote it (and so must remove it when it ends).
func connection(cfg Config) (info jupyter.ConnectionInfo, path string, wrote bool, err error) {
	path = cfg.ConnectionFile
	if path != "" {
		info, err = jupyter.ReadConnectionFile(path)
		if err == nil {
			return info, path, false, nil
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
