/*
 * gompi-kernel's loopback shim, preloaded into the launcher (OpenMPI's
 * mpirun, MPICH's Hydra mpiexec) when every rank runs on this host.
 * OpenMPI 4.1's mpirun opens an out-of-band TCP listener for daemons on
 * other nodes and binds it to every address (INADDR_ANY and in6addr_any),
 * whatever oob_tcp_if_include says; Hydra's mpiexec binds its control
 * socket (which every rank inherits) the same way. On one host only local
 * processes connect, so a wildcard bind is turned into a bind to the
 * loopback address of the same family. Other binds are left alone, and
 * so is every bind when mpirun is given other hosts (see below): then its
 * daemons must reach it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);

/* Whether wildcard binds are turned into loopback binds: only when mpirun
 * runs every rank on this host, which it does unless it is given hosts or
 * runs inside a resource manager's allocation. */
static int gompi_loopbind_active = 1;

/* Variables that give mpirun other hosts: a default hostfile, or the
 * allocation of a resource manager OpenMPI reads by itself. */
static const char *const gompi_remote_env[] = {
	"OMPI_MCA_orte_default_hostfile", "HYDRA_HOST_FILE",
	"SLURM_JOB_ID", "PBS_NODEFILE", "PBS_JOBID", "LSB_JOBID", "LSB_HOSTS", "PE_HOSTFILE",
	"OAR_NODEFILE", "COBALT_NODEFILE", NULL,
};

/* Arguments that give mpirun other hosts. */
static const char *const gompi_remote_args[] = {
	"--host", "-host", "-H", "--hostfile", "-hostfile", "--machinefile", "-machinefile",
	"--default-hostfile", "-default-hostfile", "--add-host", "--add-hostfile",
	/* MPICH's Hydra */
	"-f", "-hosts", "-hostlist", "-configfile", NULL,
};

static int gompi_remote_arg(const char *a) {
	for (int i = 0; gompi_remote_args[i] != NULL; i++) {
		size_t n = strlen(gompi_remote_args[i]);
		if (strncmp(a, gompi_remote_args[i], n) == 0 && (a[n] == 0 || a[n] == '=')) {
			return 1;
		}
	}
	return 0;
}

/* A default hostfile with a host in it (Debian's names none). */
static int gompi_default_hosts(void) {
	FILE *f = fopen("/etc/openmpi/openmpi-default-hostfile", "r");
	if (f == NULL) {
		return 0;
	}
	char line[512];
	int hosts = 0;
	while (!hosts && fgets(line, sizeof line, f) != NULL) {
		char *p = line;
		while (*p == ' ' || *p == '\t') {
			p++;
		}
		hosts = *p != '#' && *p != '\n' && *p != 0;
	}
	fclose(f);
	return hosts;
}

__attribute__((constructor)) static void gompi_loopbind_init(void) {
	/* The ranks mpirun starts must not inherit the shim: their listeners
	 * are the kernel's, bound where --ip says. */
	unsetenv("LD_PRELOAD");
	for (int i = 0; gompi_remote_env[i] != NULL; i++) {
		const char *v = getenv(gompi_remote_env[i]);
		if (v != NULL && *v != 0) {
			gompi_loopbind_active = 0;
		}
	}
	if (gompi_default_hosts()) {
		gompi_loopbind_active = 0;
	}
	FILE *f = fopen("/proc/self/cmdline", "r");
	if (f != NULL) {
		char arg[4096];
		size_t n = 0;
		int c;
		while ((c = fgetc(f)) != EOF) {
			if (c != 0 && n < sizeof arg - 1) {
				arg[n++] = (char)c;
				continue;
			}
			arg[n] = 0;
			n = 0;
			/* The kernel's own arguments (its -f FILE) are not the
			 * launcher's: stop at the program. */
			const char *base = strrchr(arg, '/');
			if (strncmp(base != NULL ? base + 1 : arg, "gompi-kernel", 12) == 0) {
				break;
			}
			if (gompi_remote_arg(arg)) {
				gompi_loopbind_active = 0;
			}
		}
		fclose(f);
	}
}

int bind(int fd, const struct sockaddr *addr, socklen_t len) {
	bind_fn real = (bind_fn)dlsym(RTLD_NEXT, "bind");
	if (!gompi_loopbind_active) {
		return real(fd, addr, len);
	}
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
