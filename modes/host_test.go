package modes

import (
	"net"
	"strings"
	"testing"
)

// TestPlacement: rank 0 on nodeB (10.77.0.2) is told when the frontend
// looks for it elsewhere: at another address, or, for a loopback address,
// on the launcher's host when the launcher says it runs on another one.
func TestPlacement(t *testing.T) {
	const hnpA = "366215168.0;tcp://10.77.0.1:52857;tcp6://[fd00::1]:51369"
	for _, tc := range []struct {
		name         string
		ip           string
		fromFrontend bool
		env          map[string]string
		fatal        bool
		want         []string // in the explanation; none: no explanation
	}{
		{"own address", "10.77.0.2", true, nil, false, nil},
		{"all interfaces", "0.0.0.0", true, nil, false, nil},
		{"loopback, mpirun here", "127.0.0.1", true,
			map[string]string{"OMPI_MCA_orte_hnp_uri": hnpA, "OMPI_MCA_orte_local_daemon_uri": hnpA}, false, nil},
		{"localhost by name", "localhost", true, nil, false, nil},
		{"another host's address", "10.77.0.1", true, nil, true,
			[]string{"names ip 10.77.0.1", "nodeB (10.77.0.2, 127.0.0.1)", "What to do:", "--ip", "on its own host when the hostfile or --host names it"}},
		{"--ip of another host", "10.77.0.1", false, nil, true,
			[]string{"--ip 10.77.0.1 is not an address of this host, nodeB (10.77.0.2, 127.0.0.1)", "What to do: give --ip"}},
		{"loopback, mpirun elsewhere", "127.0.0.1", true,
			map[string]string{"OMPI_MCA_orte_hnp_uri": hnpA, "OMPI_MCA_orte_local_daemon_uri": "366215168.1;tcp://10.77.0.2:40000"}, true,
			[]string{"names ip 127.0.0.1", "rank 0 runs on another host, nodeB", "mpirun's host, 10.77.0.1, fd00::1", "would time out"}},
		{"loopback by --ip, mpirun elsewhere", "127.0.0.1", false,
			map[string]string{"OMPI_MCA_orte_hnp_uri": hnpA, "OMPI_MCA_orte_local_daemon_uri": "366215168.1;tcp://10.77.0.2:40000"}, false,
			[]string{"--ip 127.0.0.1", "SSH tunnel"}},
		{"loopback, srun elsewhere", "127.0.0.1", true, map[string]string{"SLURM_LAUNCH_NODE_IPADDR": "10.77.0.1"}, true,
			[]string{"srun's host, 10.77.0.1", "first node of the allocation"}},
		{"loopback, srun here", "127.0.0.1", true, map[string]string{"SLURM_LAUNCH_NODE_IPADDR": "10.77.0.2"}, false, nil},
	} {
		h := host{name: "nodeB", addrs: []net.IP{net.ParseIP("10.77.0.2"), net.ParseIP("127.0.0.1"), net.ParseIP("fe80::1")},
			getenv: func(k string) string { return tc.env[k] }}
		problem, fatal := h.placement(tc.ip, tc.fromFrontend)
		if fatal != tc.fatal || (problem == "") != (len(tc.want) == 0) {
			t.Errorf("%s: fatal %v, explanation %q; want fatal %v and %d parts", tc.name, fatal, problem, tc.fatal, len(tc.want))
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(problem, w) {
				t.Errorf("%s: %q lacks %q", tc.name, problem, w)
			}
		}
	}
}
