/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What init.c needs from libc beyond the kernel's nolibc
 * (tools/include/nolibc), for architectures Debian 12 has no libc for
 * (LoongArch). Built with -include nolibc.h, so nolibc comes first.
 */
#ifndef LAB_NOLIBC_COMPAT_H
#define LAB_NOLIBC_COMPAT_H

/* nolibc has its own msleep(); init.c's stays init.c's. */
#define msleep lab_msleep
#define strerror lab_strerror
#define LAB_NO_THREADS 1
#if defined(__NR_kexec_file_load) && !defined(SYS_kexec_file_load)
#define SYS_kexec_file_load __NR_kexec_file_load
#endif

/* glibc's text for the errors the host looks for, errno=N for the rest. */
static const char *lab_strerror(int err)
{
	static char buf[24];

	switch (err) {
	case EBUSY:
		return "Device or resource busy";
	case EINVAL:
		return "Invalid argument";
	case ENOENT:
		return "No such file or directory";
	case EPERM:
		return "Operation not permitted";
	case ERANGE:
		return "Numerical result out of range";
	case ENODEV:
		return "No such device";
	}
	snprintf(buf, sizeof(buf), "errno=%d", err);
	return buf;
}

static size_t strcspn(const char *s, const char *reject)
{
	size_t n = 0;

	while (s[n] && !strchr(reject, s[n]))
		n++;
	return n;
}

static char *strtok_r(char *s, const char *delim, char **save)
{
	char *end;

	if (!s)
		s = *save;
	while (*s && strchr(delim, *s))
		s++;
	if (!*s) {
		*save = s;
		return NULL;
	}
	end = s + strcspn(s, delim);
	if (*end)
		*end++ = 0;
	*save = end;
	return s;
}

static void sync(void)
{
	syscall(__NR_sync);
}

static int pause(void)
{
	return syscall(__NR_ppoll, NULL, 0, NULL, NULL, 0);
}

static int execv(const char *path, char *const argv[])
{
	return execve(path, argv, environ);
}

/*
 * nolibc's fread() and fwrite() make a system call per item, a byte each
 * for init.c's buffers: these move the whole buffer at once.
 */
#define fread lab_fread
#define fwrite lab_fwrite

static size_t lab_fread(void *buf, size_t size, size_t nmemb, FILE *f)
{
	size_t got = 0, want = size * nmemb;
	ssize_t n;

	while (got < want && (n = read(fileno(f), (char *)buf + got, want - got)) > 0)
		got += n;
	return size ? got / size : 0;
}

static size_t lab_fwrite(const void *buf, size_t size, size_t nmemb, FILE *f)
{
	size_t done = 0, want = size * nmemb;
	ssize_t n;

	while (done < want && (n = write(fileno(f), (const char *)buf + done, want - done)) > 0)
		done += n;
	return size ? done / size : 0;
}

/* The stream is a file descriptor to nolibc, with no error state kept. */
static long ftell(FILE *f)
{
	return lseek(fileno(f), 0, SEEK_CUR);
}

static int ferror(FILE *f)
{
	(void)f;
	return 0;
}

static int sched_getcpu(void)
{
	unsigned int cpu;

	return syscall(__NR_getcpu, &cpu, NULL, NULL) ? -1 : (int)cpu;
}

typedef struct {
	unsigned long bits[1024 / (8 * sizeof(long))];
} cpu_set_t;

#define CPU_ZERO(set)		memset((set), 0, sizeof(cpu_set_t))
#define CPU_SET(cpu, set)	((set)->bits[(cpu) / (8 * sizeof(long))] |= \
				 1UL << ((cpu) % (8 * sizeof(long))))

static int sched_setaffinity(pid_t pid, size_t size, const cpu_set_t *set)
{
	return syscall(__NR_sched_setaffinity, pid, size, set);
}

struct sched_param {
	int sched_priority;
};

static int sched_setscheduler(pid_t pid, int policy, const struct sched_param *sp)
{
	return syscall(__NR_sched_setscheduler, pid, policy, sp);
}

/* Only _SC_NPROCESSORS_CONF: the CPUs in /sys/devices/system/cpu/possible. */
#define _SC_NPROCESSORS_CONF	83

static long sysconf(int name)
{
	char buf[64], *p;
	int fd;
	ssize_t n;

	if (name != _SC_NPROCESSORS_CONF)
		return -1;
	fd = open("/sys/devices/system/cpu/possible", O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	/* "0-3" or "0,2-5": the last number is the highest CPU. */
	for (p = buf + n; p > buf && p[-1] != '-' && p[-1] != ','; p--)
		;
	return strtol(p, NULL, 10) + 1;
}

#endif
