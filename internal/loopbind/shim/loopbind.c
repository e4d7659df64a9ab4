/*
 * gompi-kernel's loopback shim, preloaded into OpenMPI's mpirun when every
 * rank runs on this host. OpenMPI 4.1's mpirun opens an out-of-band TCP
 * listener for daemons on other nodes and binds it to every address
 * (INADDR_ANY and in6addr_any), whatever oob_tcp_if_include says; on one
 * host no daemon ever connects, so a wildcard bind is turned into a bind to
 * the loopback address of the same family. Other binds are left alone.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);

/* The ranks mpirun starts must not inherit the shim: their listeners are
 * the kernel's, bound where --ip says. */
__attribute__((constructor)) static void gompi_loopbind_init(void) {
	unsetenv("LD_PRELOAD");
}

int bind(int fd, const struct sockaddr *addr, socklen_t len) {
	bind_fn real = (bind_fn)dlsym(RTLD_NEXT, "bind");
	if (addr != NULL && addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		struct sockaddr_in a;
		memcpy(&a, addr, sizeof a);
		if (a.sin_addr.s_addr == htonl(INADDR_ANY)) {
			a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			return real(fd, (const struct sockaddr *)&a, sizeof a);
		}
	} else if (addr != NULL && addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 a;
		memcpy(&a, addr, sizeof a);
		if (IN6_IS_ADDR_UNSPECIFIED(&a.sin6_addr)) {
			a.sin6_addr = in6addr_loopback;
			return real(fd, (const struct sockaddr *)&a, sizeof a);
		}
	}
	return real(fd, addr, len);
}
