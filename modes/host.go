package modes

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// host is what rank 0 knows of the machine it runs on.
type host struct {
	name  string
	addrs []net.IP
	// getenv reads what the launcher told the rank (os.Getenv; tests pass
	// their own).
	getenv func(string) string
}

// thisHost describes the machine rank 0 runs on.
func thisHost() (host, error) {
	h := host{getenv: os.Getenv}
	name, err := os.Hostname()
	if err != nil {
		return h, fmt.Errorf("host name: %w", err)
	}
	h.name = name
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return h, fmt.Errorf("addresses of %s: %w", name, err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			h.addrs = append(h.addrs, n.IP)
		}
	}
	return h, nil
}

func (h host) has(ip net.IP) bool {
	for _, a := range h.addrs {
		if a.Equal(ip) {
			return true
		}
	}
	return false
}

// String is the host's name and addresses, link-local ones left out.
func (h host) String() string {
	var s []string
	for _, a := range h.addrs {
		if !a.IsLinkLocalUnicast() {
			s = append(s, a.String())
		}
	}
	return fmt.Sprintf("%s (%s)", h.name, strings.Join(s, ", "))
}

// placement checks, before any socket is bound, that rank 0 runs on the
// host a frontend will look for it on: the host of the address the
// connection file names, or for a loopback address (what a frontend writes
// by default) the launcher's host, where the frontend that started the
// launcher runs. ip is the address; fromFrontend says whether a frontend
// wrote it (false: --ip, for a file the kernel writes itself). It returns
// an explanation for the user, and whether the kernel must stop (else it
// can serve, but the user must know where). The explanation's second line
// says what to do.
func (h host) placement(ip string, fromFrontend bool) (problem string, fatal bool) {
	const how = "OpenMPI's mpirun puts rank 0 on its own host when the hostfile or --host names it, else on the " +
		"first host named; Hydra's mpiexec on the first host of -f; srun on the first node of the allocation"
	const byHand = "start the kernel by hand on rank 0's host with --ip set to an address of that host " +
		"(gompi-kernel --ip ADDRESS --connection-file NEW.json) and attach to it with jupyter console --existing NEW.json"
	local, loopback, known := h.resolve(ip)
	switch {
	case !known:
		return "", false // a name that does not resolve here: binding will say
	case !local && fromFrontend:
		return fmt.Sprintf("The connection file names ip %s, which is not an address of this host, %s, where rank 0 runs: "+
			"the frontend waits for the kernel at %s and nothing can be bound there.\n"+
			"What to do: make the launcher put rank 0 on the host of %s (%s), or %s.", ip, h, ip, ip, how, byHand), true
	case !local:
		return fmt.Sprintf("--ip %s is not an address of this host, %s, where rank 0 runs.\n"+
			"What to do: give --ip one of its addresses (0.0.0.0 for all of them).", ip, h), true
	case !loopback:
		return "", false
	}
	where, elsewhere := h.launcherElsewhere()
	if !elsewhere {
		return "", false
	}
	if fromFrontend {
		return fmt.Sprintf("The connection file names ip %s, the frontend's own host, but rank 0 runs on another host, %s, "+
			"not on the launcher's (%s), where the frontend is: the frontend cannot reach the kernel and would time out.\n"+
			"What to do: make the launcher put rank 0 on its own host, the frontend's (%s), or %s.", ip, h, where, how, byHand), true
	}
	return fmt.Sprintf("--ip %s binds the kernel to the loopback of this host, %s, which is not the launcher's (%s): "+
		"the connection file works only on this host (or through an SSH tunnel to it).\n"+
		"What to do: pass --ip with an address of this host that the frontend can reach, "+
		"or make the launcher put rank 0 on its own host (%s).", ip, h, where, how), false
}

// resolve says whether ip (an address or a host name) is one of this
// host's, whether it is loopback or "all interfaces" (what a frontend on the
// same host connects to as itself), and whether it could be told at all.
func (h host) resolve(ip string) (local, loopback, known bool) {
	var ips []net.IP
	if ip == "*" {
		ip = "0.0.0.0"
	}
	if a := net.ParseIP(ip); a != nil {
		ips = []net.IP{a}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		as, err := net.DefaultResolver.LookupIPAddr(ctx, ip)
		if err != nil || len(as) == 0 {
			return false, false, false
		}
		for _, a := range as {
			ips = append(ips, a.IP)
		}
	}
	loopback = true
	for _, a := range ips {
		if a.IsUnspecified() || a.IsLoopback() {
			local = true
			continue
		}
		loopback = false
		if h.has(a) {
			local = true
		}
	}
	return local, loopback, true
}

// launcherElsewhere reads what the launcher told the rank about where the
// launcher runs, and reports whether that is another host (and which).
// OpenMPI 4 gives every rank its local daemon's and mpirun's contact
// addresses, the same string on mpirun's host; srun gives the address of
// the node it was started on. MPICH's Hydra says nothing of the kind.
func (h host) launcherElsewhere() (where string, elsewhere bool) {
	hnp, local := h.getenv("OMPI_MCA_orte_hnp_uri"), h.getenv("OMPI_MCA_orte_local_daemon_uri")
	if hnp != "" && local != "" && hnp != local {
		return "mpirun's host, " + uriAddrs(hnp), true
	}
	if a := net.ParseIP(h.getenv("SLURM_LAUNCH_NODE_IPADDR")); a != nil && !a.IsLoopback() && !h.has(a) {
		return "srun's host, " + a.String(), true
	}
	return "", false
}

// uriAddrs picks the addresses out of an OpenMPI contact URI,
// "366215168.0;tcp://192.0.2.2:52857;tcp6://[fd00::2]:51369".
func uriAddrs(uri string) string {
	var addrs []string
	for _, part := range strings.Split(uri, ";") {
		_, rest, ok := strings.Cut(part, "://")
		if !ok {
			continue
		}
		if h, _, err := net.SplitHostPort(rest); err == nil {
			addrs = append(addrs, h)
		}
	}
	if len(addrs) == 0 {
		return uri
	}
	return strings.Join(addrs, ", ")
}
