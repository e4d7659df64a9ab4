//go:build unix

package session

import "syscall"

// dupCloexec duplicates fd, closed on exec like every file Go opens.
func dupCloexec(fd int) (int, error) {
	nfd, err := syscall.Dup(fd)
	if err != nil {
		return -1, err
	}
	syscall.CloseOnExec(nfd)
	return nfd, nil
}
