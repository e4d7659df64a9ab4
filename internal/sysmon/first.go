package sysmon

// FirstThread returns the oldest of the threads tids of process pid after
// its main thread (whose id is pid). Linux hands out ids in increasing
// order until they reach pid_max (32768 on small machines) and then starts
// again from a few hundred: an id above pid is older than one below it,
// which was handed out after the wrap. (Ids cannot wrap twice while a
// process starts.)
func FirstThread(pid int, tids []int) (int, bool) {
	first, found := 0, false
	older := func(a, b int) bool { // a was handed out before b
		if (a > pid) != (b > pid) {
			return a > pid
		}
		return a < b
	}
	for _, tid := range tids {
		if tid != pid && (!found || older(tid, first)) {
			first, found = tid, true
		}
	}
	return first, found
}
