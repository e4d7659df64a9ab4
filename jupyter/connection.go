package jupyter

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/google/uuid"
)

// DefaultIP is where the kernel listens when nobody asks otherwise: a Jupyter
// kernel executes arbitrary code for whoever holds the key, so it should not be
// reachable from other machines by accident.
const DefaultIP = "127.0.0.1"

// DefaultSignatureScheme is the scheme every current Jupyter frontend uses; it is
// what NewConnectionInfo picks and what an empty "signature_scheme" means.
const DefaultSignatureScheme = "hmac-sha256"

// ConnectionInfo is the content of a Jupyter connection file. The frontend
// (or kernel manager) writes it and passes its path to the kernel; the kernel
// needs it to know where to bind and which key signs every message.
type ConnectionInfo struct {
	Transport       string `json:"transport"`
	IP              string `json:"ip"`
	ShellPort       int    `json:"shell_port"`
	IOPubPort       int    `json:"iopub_port"`
	StdinPort       int    `json:"stdin_port"`
	ControlPort     int    `json:"control_port"`
	HBPort          int    `json:"hb_port"`
	Key             string `json:"key"`
	SignatureScheme string `json:"signature_scheme"`
	KernelName      string `json:"kernel_name,omitempty"`
}

// NewConnectionInfo makes a fresh connection description, for running the
// kernel without a manager (tests, `--connection-file` that does not exist yet,
// the MPI launcher). The ports are free at the time of the call: they are found
// by binding port 0 five times at once, so they are distinct, then released.
// ip "" means DefaultIP; "*" (all interfaces) is recorded as "0.0.0.0", as
// jupyter_client does, because clients cannot connect to "tcp://*:port".
func NewConnectionInfo(ip string) (ConnectionInfo, error) {
	switch ip {
	case "":
		ip = DefaultIP
	case "*":
		ip = "0.0.0.0"
	}
	ports, err := freePorts(ip, 5)
	if err != nil {
		return ConnectionInfo{}, fmt.Errorf("jupyter: new connection info: %w", err)
	}
	return ConnectionInfo{
		Transport:       "tcp",
		IP:              ip,
		ShellPort:       ports[0],
		IOPubPort:       ports[1],
		StdinPort:       ports[2],
		ControlPort:     ports[3],
		HBPort:          ports[4],
		Key:             uuid.NewString(),
		SignatureScheme: DefaultSignatureScheme,
	}, nil
}

// freePorts binds n listeners at once so that the kernel gets n distinct ports.
func freePorts(ip string, n int) ([]int, error) {
	host := bindHost(ip)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("find free port on %q: %w", ip, err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// bindHost maps the zmq spelling of "all interfaces" to one net.Listen accepts.
func bindHost(ip string) string {
	switch ip {
	case "", "*":
		return "0.0.0.0"
	}
	return ip
}

// ReadConnectionFile loads and checks the file a kernel manager hands to the
// kernel. It refuses what the server could not honour (ipc transport, an
// unknown signature scheme, missing ports) now, with the file name in the
// error, rather than failing obscurely later at bind time.
func ReadConnectionFile(path string) (ConnectionInfo, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return ConnectionInfo{}, fmt.Errorf("jupyter: read connection file: %w", err)
	}
	var c ConnectionInfo
	if err := json.Unmarshal(data, &c); err != nil {
		return ConnectionInfo{}, fmt.Errorf("jupyter: parse connection file %s: %w", path, err)
	}
	if c.Transport == "" {
		c.Transport = "tcp"
	}
	if c.IP == "" {
		c.IP = DefaultIP
	}
	if c.SignatureScheme == "" {
		c.SignatureScheme = DefaultSignatureScheme
	}
	if err := c.validate(); err != nil {
		return ConnectionInfo{}, fmt.Errorf("jupyter: connection file %s: %w", path, err)
	}
	return c, nil
}

// validate reports what Listen could not work with.
func (c ConnectionInfo) validate() error {
	if c.Transport != "tcp" {
		return fmt.Errorf("unsupported transport %q (only tcp)", c.Transport)
	}
	if _, err := NewSigner(c.SignatureScheme, c.Key); err != nil {
		return err
	}
	ports := []struct {
		name string
		port int
	}{{"shell_port", c.ShellPort}, {"iopub_port", c.IOPubPort}, {"stdin_port", c.StdinPort},
		{"control_port", c.ControlPort}, {"hb_port", c.HBPort}}
	for _, p := range ports {
		if p.port <= 0 || p.port > 65535 {
			return fmt.Errorf("invalid %s %d", p.name, p.port)
		}
	}
	return nil
}

// WriteFile stores c where a frontend can pick it up (`jupyter console
// --existing`). The key in it lets anyone run code as this user, so the file is
// 0600 regardless of umask, and it appears atomically (temp file + rename) so a
// reader polling for it never sees half a file.
func (c ConnectionInfo) WriteFile(path string) (err error) {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("jupyter: encode connection info: %w", err)
	}
	data = append(data, '\n')
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("jupyter: write connection file: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("jupyter: write connection file %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("jupyter: write connection file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("jupyter: write connection file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("jupyter: write connection file %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("jupyter: write connection file %s: %w", path, err)
	}
	return nil
}

// endpoint is the zmq address of one port of c.
func (c ConnectionInfo) endpoint(port int) string {
	return c.Transport + "://" + net.JoinHostPort(bindHost(c.IP), strconv.Itoa(port))
}

// RuntimeDir is where Jupyter tools look for kernel connection files, so a
// kernel started by hand can be found with `jupyter console --existing`.
// It follows jupyter_core.paths.jupyter_runtime_dir as installed here
// (jupyter_core 4.12, and 5.x without JUPYTER_PLATFORM_DIRS): $JUPYTER_RUNTIME_DIR,
// else $JUPYTER_DATA_DIR/runtime, else $XDG_DATA_HOME/jupyter/runtime, else
// ~/.local/share/jupyter/runtime. XDG_RUNTIME_DIR is deliberately ignored, as
// jupyter_core has done since 4.x. The directory is created (0700) if missing.
func RuntimeDir() (string, error) {
	dir, err := runtimeDirPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("jupyter: create runtime dir: %w", err)
	}
	return dir, nil
}

func runtimeDirPath() (string, error) {
	if d := os.Getenv("JUPYTER_RUNTIME_DIR"); d != "" {
		return d, nil
	}
	if d := os.Getenv("JUPYTER_DATA_DIR"); d != "" {
		return filepath.Join(d, "runtime"), nil
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "jupyter", "runtime"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("jupyter: runtime dir: %w", err)
	}
	if home == "" {
		return "", errors.New("jupyter: runtime dir: no home directory")
	}
	return filepath.Join(home, ".local", "share", "jupyter", "runtime"), nil
}

// prepare fills in the defaults a connection file may leave out (tcp, the
// default address), checks it, and makes its signer; a nil log discards.
// Server and Client both start here.
func (c ConnectionInfo) prepare(log *slog.Logger) (ConnectionInfo, *Signer, *slog.Logger, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if c.Transport == "" {
		c.Transport = "tcp"
	}
	if c.IP == "" {
		c.IP = DefaultIP
	}
	if err := c.validate(); err != nil {
		return c, nil, log, err
	}
	signer, err := NewSigner(c.SignatureScheme, c.Key)
	return c, signer, log, err
}
