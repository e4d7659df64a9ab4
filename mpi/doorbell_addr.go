package mpi

import (
	"net"
	"sort"
	"strings"
)

// localAddrs lists this host's addresses that other hosts may reach: up,
// not loopback, not link-local, IPv4 first. If hints name networks
// (networkHints), only addresses within them, if any are.
func localAddrs(hints []string) []net.IP {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var all, hinted []net.IP
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() {
				continue
			}
			all = append(all, ipn.IP)
			if matchesHint(ifc.Name, ipn.IP, hints) {
				hinted = append(hinted, ipn.IP)
			}
		}
	}
	if len(hinted) > 0 {
		all = hinted
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].To4() != nil && all[j].To4() == nil })
	return all
}

// matchesHint reports whether an address of interface name is what one of
// hints names: the interface, a network containing it, or the address.
func matchesHint(name string, ip net.IP, hints []string) bool {
	for _, h := range hints {
		if _, n, err := net.ParseCIDR(h); err == nil {
			if n.Contains(ip) {
				return true
			}
		} else if hip := net.ParseIP(h); hip != nil {
			if hip.Equal(ip) {
				return true
			}
		} else if h == name {
			return true
		}
	}
	return false
}

// advertise packs a port and addresses into one exchange slot:
// "port addr,addr,…", as many addresses as fit.
func advertise(port string, ips []net.IP) string {
	s := port + " "
	for i, ip := range ips {
		a := ip.String()
		if len(s)+len(a)+1 >= slot {
			break
		}
		if i > 0 {
			s += ","
		}
		s += a
	}
	return strings.TrimSpace(s)
}

// dialOrder turns a peer's advertisement into the addresses to dial, those
// on a network this host is on first: a cluster node often has a
// management network besides the one its peers can reach.
func dialOrder(ad string) []string {
	if strings.HasPrefix(ad, "@") {
		return []string{ad} // a Unix socket on this host
	}
	port, list, _ := strings.Cut(ad, " ")
	var near, far []string
	local := localNets()
	for _, a := range strings.Split(list, ",") {
		ip := net.ParseIP(a)
		if ip == nil {
			continue
		}
		hp := net.JoinHostPort(a, port)
		if onNet(ip, local) {
			near = append(near, hp)
		} else {
			far = append(far, hp)
		}
	}
	return append(near, far...)
}

func localNets() []*net.IPNet {
	var nets []*net.IPNet
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() {
			nets = append(nets, n)
		}
	}
	return nets
}

func onNet(ip net.IP, nets []*net.IPNet) bool {
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}
