// SPDX-License-Identifier: GPL-2.0
/*
 * The lab's guest: PID 1 of every VM the lab boots, built static for each
 * architecture. It reads its instructions from "lab.*" kernel parameters,
 * acts, and reports on the console as lines starting with "LAB: ". All
 * policy (what is expected, what counts as a failure) lives on the host.
 *
 *   lab.gen=N        generation: 0 on the first boot, +1 per kexec
 *   lab.gens=N       kexec this many times in a chain, then stop (default 1)
 *   lab.action=A     kexec | reboot | poweroff | sysfs | none
 *   lab.loader=L     file (kexec_file_load(2) from this program, default),
 *                    tools (kexec-tools: kexec -l; kexec -e),
 *                    tools-s (kexec-tools: kexec -s; kexec -e)
 *   lab.storm=LIST   CPUs to cycle offline/online during the action,
 *                    "all" for every CPU that has an online file
 *   lab.lead=MS      how long the storm runs before the action (500)
 *   lab.storm_online_file=1  storm through cpuN/online, not cpuN/hotplug/target
 *   lab.prober=N     also toggle the storm CPUs from a SCHED_FIFO process
 *                    pinned to CPU N (see start_prober())
 *   lab.smt_storm=N  also toggle /sys/devices/system/cpu/smt/control from a
 *                    SCHED_FIFO process pinned to CPU N
 *   lab.offline=LIST CPUs to take offline before the action
 *   lab.rcpu=N       write N to /sys/kernel/reboot/cpu before the action
 *   lab.fail_cpu=N   with lab.fail_state=NAME: make the teardown of CPU N
 *                    fail at the hotplug state NAME (cpuN/hotplug/fail)
 *   lab.ipi_storm=MS in the last generation, before "done": TLB
 *                    shootdowns to every other CPU for MS ms (ipi_storm())
 *   lab.wait=MS      say "wait MS" and sleep MS ms before the action: the
 *                    host times a request of its own (vcpu-eject) from it
 *
 * Every generation prints "LAB: boot ..." with the online CPUs and the CPU
 * it runs on; the last one prints "LAB: done" and ends the VM with a
 * reboot, which ends QEMU (-no-reboot; x86: QEMU pauses, the lab ends it).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#ifdef NOLIBC
#include "nolibc-compat.h"
#else
#include <pthread.h>
#endif
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/reboot.h>

#define MAX_CPUS	64
#define NEXT_INITRD	"/next.cpio"
#define MANIFEST	"/lab/manifest"

static char cmdline[4096];

static void say(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	n = snprintf(buf, sizeof(buf), "LAB: ");
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	/* One write per line so that lines from several processes don't mix. */
	if (write(1, buf, n) < 0)
		_exit(1);
}

/*
 * Wait until the console has sent everything written to it (tcdrain()).
 * The tty layer transmits our lines after write() returns; a reboot or
 * kexec right after can lose the last of them.
 */
static void drain_console(void)
{
	ioctl(1, TCSBRK, 1);
}

static void finish(void)
{
	sync();
	drain_console();
	reboot(RB_AUTOBOOT);
	say("error: reboot returned: %s", strerror(errno));
	for (;;)
		pause();
}

static void fail(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	say("error: %s", buf);
	finish();
}

/* Value of "lab.<key>=" on the kernel command line, or NULL. */
static const char *param(const char *key)
{
	static char val[256];
	char pat[64];
	const char *p = cmdline;
	size_t n;

	snprintf(pat, sizeof(pat), "lab.%s=", key);
	while ((p = strstr(p, pat))) {
		if (p == cmdline || p[-1] == ' ') {
			p += strlen(pat);
			n = strcspn(p, " \n");
			if (n >= sizeof(val))
				n = sizeof(val) - 1;
			memcpy(val, p, n);
			val[n] = 0;
			return val;
		}
		p++;
	}
	return NULL;
}

static long param_long(const char *key, long def)
{
	const char *v = param(key);

	return v ? strtol(v, NULL, 0) : def;
}

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = 0;
	return 0;
}

/* Write a string to a sysfs file; 0 or -errno. */
static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static int set_online(int cpu, int on)
{
	char path[64];

	snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/online", cpu);
	return write_file(path, on ? "1" : "0");
}

static int has_online_file(int cpu)
{
	char path[64];

	snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/online", cpu);
	return access(path, W_OK) == 0;
}

/* Parse "0-2,5" or "all" into a mask; returns the number of CPUs. */
static int parse_cpus(const char *s, int *mask)
{
	int n = 0, a, b, i;
	char *end;

	memset(mask, 0, sizeof(int) * MAX_CPUS);
	if (!s || !*s || !strcmp(s, "none"))
		return 0;
	if (!strcmp(s, "all")) {
		for (i = 0; i < MAX_CPUS; i++)
			if (has_online_file(i))
				mask[i] = 1, n++;
		return n;
	}
	while (*s) {
		a = strtol(s, &end, 10);
		if (end == s)
			fail("bad CPU list near '%s'", s);
		b = a;
		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		for (i = a; i <= b && i < MAX_CPUS; i++)
			mask[i] = 1, n++;
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

static void msleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/*
 * The CPUHP_ONLINE state number from /sys/devices/system/cpu/hotplug/states,
 * or -1 without CONFIG_CPU_HOTPLUG_STATE_CONTROL.
 */
static int online_state(void)
{
	char buf[16384], *p;

	if (read_file("/sys/devices/system/cpu/hotplug/states", buf, sizeof(buf)))
		return -1;
	p = strstr(buf, ": online");
	if (!p)
		return -1;
	while (p > buf && p[-1] != '\n')
		p--;
	return atoi(p);
}

/*
 * Two storm processes per CPU, one that keeps taking it offline and one
 * that keeps bringing it online, through cpuN/hotplug/target where the
 * kernel has it: the online file retries a refused bring-up for up to
 * 620 ms inside the kernel while holding device_hotplug_lock, which would
 * keep every other storm process out of a window that opens for a few
 * milliseconds. Refusals are retried after 200 us for the first 20 in a
 * row, then with a back-off up to 64 ms so that they don't flood the
 * console.
 */
static void storm_one(int cpu, int on, int online)
{
	long backoff_us = 200;
	char path[64], val[16];
	int refused = 0, ret;

	snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/hotplug/target", cpu);
	snprintf(val, sizeof(val), "%d", on ? online : 0);
	for (;;) {
		ret = online < 0 ? set_online(cpu, on) : write_file(path, val);
		if (ret == -EBUSY) {
			if (++refused > 20 && backoff_us < 64000)
				backoff_us *= 2;
		} else {
			refused = 0;
			backoff_us = 200;
		}
		usleep(backoff_us);
	}
}

/*
 * The prober: a SCHED_FIFO process pinned to @cpu (the reboot CPU) that
 * toggles the storm CPUs with 50 us pauses. With CONFIG_PREEMPT it
 * preempts the reboot task on that CPU whenever its timer fires, so any
 * window in which CPU hotplug is enabled and that lasts longer than that
 * sees one of its attempts.
 */
/* Fork a child that runs SCHED_FIFO pinned to @cpu; 1 in the child. */
static int fork_rt_on(int cpu, const char *what)
{
	struct sched_param sp = { .sched_priority = 50 };
	cpu_set_t set;

	if (fork())
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) ||
	    sched_setscheduler(0, SCHED_FIFO, &sp))
		fail("%s on cpu%d: %s", what, cpu, strerror(errno));
	return 1;
}

static void start_prober(int cpu, const int *storm, int online)
{
	char path[64], val[16];
	int on[MAX_CPUS] = { 0 }, i;

	if (!fork_rt_on(cpu, "prober"))
		return;
	for (;;) {
		for (i = 0; i < MAX_CPUS; i++) {
			if (!storm[i] || i == cpu)
				continue;
			snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/hotplug/target", i);
			snprintf(val, sizeof(val), "%d", on[i] ? online : 0);
			if (!(online < 0 ? set_online(i, on[i]) : write_file(path, val)))
				on[i] = !on[i];
			usleep(50);
		}
	}
}

/*
 * Switch SMT off and on, forever, whatever the result: brings sibling
 * threads down and up. Alternating also after a refusal means that an "on"
 * follows whatever state the threads were left in. Runs SCHED_FIFO pinned
 * to @cpu (the reboot CPU), like the prober, to reach short windows.
 */
static void start_smt_storm(int cpu)
{
	static const char *const val[] = { "off", "on" };
	int i = 0;

	if (!fork_rt_on(cpu, "smt storm"))
		return;
	for (;;) {
		write_file("/sys/devices/system/cpu/smt/control", val[i]);
		i = !i;
		usleep(50);
	}
}

static void start_storm(int cpu, int online)
{
	if (!fork())
		storm_one(cpu, 0, online);
	if (!fork())
		storm_one(cpu, 1, online);
}

/* Number of the hotplug state called @name in cpu/hotplug/states, or -1. */
static int state_number(const char *name)
{
	static char buf[16384];
	char *line, *save;

	if (read_file("/sys/devices/system/cpu/hotplug/states", buf, sizeof(buf)))
		return -1;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(line, ':');

		if (colon && !strcmp(colon + 2, name))
			return atoi(line);
	}
	return -1;
}

static void inject_fail(int cpu, const char *name)
{
	char path[64], val[16];
	int state = state_number(name), ret;

	if (state < 0)
		fail("no hotplug state '%s'", name);
	snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/hotplug/fail", cpu);
	snprintf(val, sizeof(val), "%d", state);
	ret = write_file(path, val);
	if (ret)
		fail("%s <- %s: %s", path, val, strerror(-ret));
	say("fail injected: cpu%d state %d (%s)", cpu, state, name);
}

/*
 * Hardware id of the CPU this kernel was entered on: the APIC id on x86,
 * the hart id on riscv, the global id on loongarch (logical CPU 0's).
 * arm64 prints it in the kernel log. On powerpc the boot CPU need not be
 * logical CPU 0: the id is boot_cpuid_phys in the header of the FDT the
 * kernel booted with.
 */
static const char *boot_hwid(void)
{
	static char id[16] = "-";
#ifdef __powerpc64__
	unsigned char hdr[32];
	int fd = open("/sys/firmware/fdt", O_RDONLY);

	if (fd >= 0 && read(fd, hdr, sizeof(hdr)) == (ssize_t)sizeof(hdr))
		snprintf(id, sizeof(id), "%u", (unsigned int)hdr[28] << 24 |
			 hdr[29] << 16 | hdr[30] << 8 | hdr[31]);
	if (fd >= 0)
		close(fd);
#else
	static char buf[8192];
	char *p;

	if (read_file("/proc/cpuinfo", buf, sizeof(buf)))
		return id;
	/* x86: "apicid"; riscv: "hart"; loongarch: "global_id"; CPU 0's first */
	if (((p = strstr(buf, "\napicid")) || (p = strstr(buf, "\nhart\t")) ||
	     (p = strstr(buf, "\nglobal_id"))) && (p = strchr(p, ':')))
		snprintf(id, sizeof(id), "%ld", strtol(p + 1, NULL, 10));
#endif
	return id;
}

/*
 * Hardware ids of the logical CPUs, "0,8,16,24", where the kernel shows
 * them (powerpc: cpuN/physical_id); "-" elsewhere.
 */
static const char *hw_ids(void)
{
	static char out[512];
	char path[64], id[16];
	size_t n = 0;
	int cpu;

	out[0] = 0;
	for (cpu = 0; cpu < MAX_CPUS; cpu++) {
		snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/physical_id", cpu);
		if (read_file(path, id, sizeof(id)))
			break;
		n += snprintf(out + n, sizeof(out) - n, "%s%s", cpu ? "," : "", id);
	}
	return n ? out : "-";
}

static void report_boot(long gen)
{
	char online[256], possible[256], rcpu[32] = "?";

	if (read_file("/sys/devices/system/cpu/online", online, sizeof(online)))
		strcpy(online, "?");
	if (read_file("/sys/devices/system/cpu/possible", possible, sizeof(possible)))
		strcpy(possible, "?");
	read_file("/sys/kernel/reboot/cpu", rcpu, sizeof(rcpu));
	say("boot gen=%ld cpu=%d online=%s possible=%s reboot_cpu=%s hwid=%s hwids=%s",
	    gen, sched_getcpu(), online, possible, rcpu, boot_hwid(), hw_ids());
}

/* The command line for the next generation: ours with lab.gen bumped. */
static void next_cmdline(long gen, char *out, size_t len)
{
	char *tok, *save, copy[sizeof(cmdline)];
	size_t n = 0;

	strcpy(copy, cmdline);
	for (tok = strtok_r(copy, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		/*
		 * rd_start=/rd_size= (mips), "kexec_file initrd=" (loongarch):
		 * where the previous loader put the initrd. The loader adds
		 * the new ones; old ones must not stay (mips adds up every
		 * rd_size=; the last initrd= wins, and loongarch puts the new
		 * one first).
		 */
		if (!strncmp(tok, "lab.gen=", 8) || !strncmp(tok, "rd_start=", 9) ||
		    !strncmp(tok, "rd_size=", 8) || !strncmp(tok, "initrd=", 7) ||
		    !strcmp(tok, "kexec_file"))
			continue;
		n += snprintf(out + n, len - n, "%s ", tok);
	}
	snprintf(out + n, len - n, "lab.gen=%ld", gen + 1);
}

static void cpio_pad(FILE *f)
{
	while (ftell(f) & 3)
		fputc(0, f);
}

static void cpio_entry(FILE *f, const char *name, const struct stat *st, FILE *data)
{
	static unsigned int ino = 1;
	char buf[65536];
	size_t n;

	fprintf(f, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		ino++, st->st_mode, 0, 0, 1, 0,
		(unsigned int)(data ? st->st_size : 0), 0, 0,
		major(st->st_rdev), minor(st->st_rdev),
		(unsigned int)strlen(name) + 1, 0);
	fwrite(name, strlen(name) + 1, 1, f);
	cpio_pad(f);
	while (data && (n = fread(buf, 1, sizeof(buf), data)) > 0)
		fwrite(buf, 1, n, f);
	cpio_pad(f);
}

/*
 * The next kernel gets the same root file system: write the files named by
 * the manifest, which the host put into the initramfs, as a newc cpio.
 */
static void write_initrd(void)
{
	FILE *man = fopen(MANIFEST, "r"), *out = fopen(NEXT_INITRD, "w");
	struct stat st = { .st_mode = 0 };
	char line[512];

	if (!man || !out)
		fail("cannot write %s: %s", NEXT_INITRD, strerror(errno));
	while (fgets(line, sizeof(line), man)) {
		line[strcspn(line, "\n")] = 0;
		if (!*line || lstat(line, &st))
			continue;
		if (S_ISREG(st.st_mode)) {
			FILE *data = fopen(line, "r");

			if (!data)
				fail("cannot read %s", line);
			cpio_entry(out, line + 1, &st, data);
			fclose(data);
		} else {
			cpio_entry(out, line + 1, &st, NULL);
		}
	}
	memset(&st, 0, sizeof(st));
	cpio_entry(out, "TRAILER!!!", &st, NULL);
	if (fclose(out) || ferror(man))
		fail("writing %s failed", NEXT_INITRD);
	fclose(man);
}

static int run(char *const argv[])
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		execv(argv[0], argv);
		say("error: exec %s: %s", argv[0], strerror(errno));
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void load_kexec(const char *loader, long gen)
{
	static char next[4096];
	char arg[sizeof(next) + 32];
	int kfd, ifd;

	next_cmdline(gen, next, sizeof(next));
	write_initrd();
	if (!strcmp(loader, "file")) {
		kfd = open("/kernel", O_RDONLY);
		ifd = open(NEXT_INITRD, O_RDONLY);
		if (kfd < 0 || ifd < 0)
			fail("open kernel/initrd: %s", strerror(errno));
#ifdef SYS_kexec_file_load
		if (syscall(SYS_kexec_file_load, kfd, ifd, strlen(next) + 1, next, 0UL))
			fail("kexec_file_load: %s", strerror(errno));
#else
		/* mips: no kexec_file_load() syscall at all (loader = tools). */
		fail("kexec_file_load: no such syscall on this architecture");
#endif
		close(kfd);
		close(ifd);
	} else if (!strcmp(loader, "tools") || !strcmp(loader, "tools-s")) {
		char *argv[8];
		int n = 0;

		/* -l also with -s: without it kexec-tools loads and runs shutdown. */
		argv[n++] = "/sbin/kexec";
		argv[n++] = "-l";
		if (loader[5])
			argv[n++] = "-s";
		argv[n++] = "/kernel";
#ifdef __arm__
		/* kexec -l on arm: the running kernel's device tree. */
		if (!loader[5])
			argv[n++] = "--dtb=/sys/firmware/fdt";
#endif
		argv[n++] = "--initrd=" NEXT_INITRD;
		argv[n++] = arg;
		argv[n] = NULL;
		snprintf(arg, sizeof(arg), "--command-line=%s", next);
		if (run(argv))
			fail("kexec-tools could not load the kernel");
	} else {
		fail("unknown loader '%s'", loader);
	}
	say("loaded gen=%ld loader=%s", gen + 1, loader);
}

/* Bad input for /sys/kernel/reboot/cpu: each write must fail, value unchanged. */
static void probe_sysfs(void)
{
	/*
	 * Not "": a zero-length write() never reaches the store method. A
	 * space rather than a newline, so that the report stays one line.
	 */
	static const char *const bad[] = { "abc", "-1", "4096", "99999999999", " " };
	char before[32], after[32], nposs[16];
	unsigned int i;
	int ret;

	read_file("/sys/kernel/reboot/cpu", before, sizeof(before));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ret = write_file("/sys/kernel/reboot/cpu", bad[i]);
		read_file("/sys/kernel/reboot/cpu", after, sizeof(after));
		say("sysfs write '%s' -> %s (%d) value %s->%s", bad[i],
		    ret ? strerror(-ret) : "accepted", -ret, before, after);
	}
	/* The first value past the possible CPUs. */
	snprintf(nposs, sizeof(nposs), "%ld", sysconf(_SC_NPROCESSORS_CONF));
	ret = write_file("/sys/kernel/reboot/cpu", nposs);
	read_file("/sys/kernel/reboot/cpu", after, sizeof(after));
	say("sysfs write '%s' -> %s (%d) value %s->%s", nposs,
	    ret ? strerror(-ret) : "accepted", -ret, before, after);
}

/*
 * The host enables kprobe events on the sysfs hotplug attempts; only the
 * refused ones (-EBUSY) are evidence, the rest would flood the console.
 */
static void filter_trace(void)
{
	static const char *const ev[] = { "lab_up", "lab_down", "lab_target", "lab_smt" };
	char path[96], buf[128];
	unsigned int i;

	mkdir("/sys/kernel/tracing", 0755);
	if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL))
		return;
	for (i = 0; i < sizeof(ev) / sizeof(ev[0]); i++) {
		snprintf(path, sizeof(path), "/sys/kernel/tracing/events/lab/%s/filter", ev[i]);
		if (access(path, F_OK))
			continue;
		if (write_file(path, "ret == -16"))
			say("error: cannot filter %s", ev[i]);
		if (!read_file(path, buf, sizeof(buf)))
			say("trace filter %s: %s", ev[i], buf);
	}
}

#ifndef LAB_NO_THREADS
static volatile int spin_stop;

static void *spin_on(void *arg)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET((long)arg, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		return NULL;
	while (!spin_stop)
		;
	return NULL;
}

/*
 * A thread of this process spins on every other online CPU while this one
 * maps, touches and unmaps a page: each unmap flushes the TLBs of those
 * CPUs with a call function IPI to all of them, which x86 sends as a
 * shorthand ("all but self") IPI when it may.
 */
static void ipi_storm(long ms)
{
	pthread_t th[MAX_CPUS];
	int online[MAX_CPUS], self = sched_getcpu(), n = 0, i;
	struct timespec t0, t;
	char buf[256];
	long rounds = 0, el;
	cpu_set_t set;

	if (read_file("/sys/devices/system/cpu/online", buf, sizeof(buf)) || !parse_cpus(buf, online))
		fail("ipi storm: cannot read the online CPUs");
	CPU_ZERO(&set);
	CPU_SET(self, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		fail("ipi storm: cannot pin to cpu%d: %s", self, strerror(errno));
	for (i = 0; i < MAX_CPUS; i++) {
		if (!online[i] || i == self)
			continue;
		if (pthread_create(&th[n], NULL, spin_on, (void *)(long)i))
			fail("ipi storm: cannot start a thread for cpu%d", i);
		n++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			fail("ipi storm: mmap: %s", strerror(errno));
		*p = 1;
		munmap(p, 4096);
		rounds++;
		clock_gettime(CLOCK_MONOTONIC, &t);
		el = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
	} while (el < ms);
	spin_stop = 1;
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	say("ipi storm: %ld unmaps from cpu%d with %d other CPUs spinning, %ld ms", rounds, self, n, el);
}
#else
/* nolibc has no threads: the storm needs threads sharing one mm. */
static void ipi_storm(long ms)
{
	fail("ipi storm: not in this build of the guest (no threads), %ld ms asked", ms);
}
#endif

int main(void)
{
	int storm[MAX_CPUS], offline[MAX_CPUS], i;
	const char *action, *loader;
	long gen, gens, lead;

	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	filter_trace();
	if (read_file("/proc/cmdline", cmdline, sizeof(cmdline)))
		fail("cannot read /proc/cmdline");

	gen = param_long("gen", 0);
	gens = param_long("gens", 1);
	lead = param_long("lead", 500);
	action = param("action") ? : "none";
	action = strdup(action);
	loader = strdup(param("loader") ? : "file");
	report_boot(gen);

	if (gen >= gens || !strcmp(action, "none")) {
		if (param("ipi_storm"))
			ipi_storm(param_long("ipi_storm", 0));
		say("done gen=%ld", gen);
		finish();
	}

	if (param("rcpu")) {
		int ret = write_file("/sys/kernel/reboot/cpu", param("rcpu"));

		say("reboot_cpu set to %s: %s", param("rcpu"), ret ? strerror(-ret) : "ok");
	}
	parse_cpus(param("offline"), offline);
	for (i = 0; i < MAX_CPUS; i++) {
		if (offline[i]) {
			int ret = set_online(i, 0);

			say("offline cpu%d: %s", i, ret ? strerror(-ret) : "ok");
		}
	}

	if (param("fail_cpu") && param("fail_state")) {
		char *name = strdup(param("fail_state"));

		inject_fail(param_long("fail_cpu", 0), name);
		free(name);
	}

	if (!strcmp(action, "sysfs")) {
		probe_sysfs();
		say("done gen=%ld", gen);
		finish();
	}
	if (!strcmp(action, "kexec"))
		load_kexec(loader, gen);

	if (parse_cpus(param("storm"), storm)) {
		int online = param_long("storm_online_file", 0) ? -1 : online_state();
		char list[256] = "";

		for (i = 0; i < MAX_CPUS; i++) {
			if (!storm[i])
				continue;
			start_storm(i, online);
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%d",
				 *list ? "," : "", i);
		}
		if (param("prober")) {
			start_prober(param_long("prober", 0), storm, online);
			say("prober on cpu%ld", param_long("prober", 0));
		}
		say("storm cpus=%s lead=%ldms via=%s", list, lead, online < 0 ? "online" : "target");
	}
	if (param("smt_storm")) {
		start_smt_storm(param_long("smt_storm", 0));
		say("smt storm on /sys/devices/system/cpu/smt/control from cpu%ld",
		    param_long("smt_storm", 0));
	}
	if (param("storm") || param("smt_storm"))
		msleep(lead);
	if (param("wait")) {
		say("wait %ld", param_long("wait", 0));
		drain_console();
		msleep(param_long("wait", 0));
	}

	say("action %s gen=%ld", action, gen);
	drain_console();
	if (!strcmp(action, "kexec")) {
		if (!strncmp(loader, "tools", 5)) {
			char *argv[] = { "/sbin/kexec", "-e", NULL };

			run(argv);
			fail("kexec -e returned");
		}
		reboot(LINUX_REBOOT_CMD_KEXEC);
		fail("kexec reboot returned: %s", strerror(errno));
	} else if (!strcmp(action, "reboot")) {
		reboot(RB_AUTOBOOT);
		fail("reboot returned: %s", strerror(errno));
	} else if (!strcmp(action, "poweroff")) {
		reboot(RB_POWER_OFF);
		fail("poweroff returned: %s", strerror(errno));
	}
	fail("unknown action '%s'", action);
	return 1;
}
