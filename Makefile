# The v6 series "keep CPU hotplug disabled from choosing the reboot CPU on"
# and the lab that proves it. See README.md.
#
#   make              install what is missing (Debian packages; the 7.3
#                     source from trixie-backports, scripts/fetch-source.sh),
#                     build base and patched kernels, boot them in QEMU,
#                     print the comparison. ARCH=x86_64 (default), arm64,
#                     riscv64, arm, ppc64le, loongarch64 (QEMU=backports);
#                     BASE=7.3 (series/), 6.12 or 6.1
#                     (backports/BASE/); SCENARIOS=a,b ITER=N; RATES=1
#                     runs each scenario exactly ITER times on each kernel
#                     (failure rates)
#   make check        what CI runs: static checks of v6 and the fixes on
#                     7.3 and of the 6.12 and 6.1 backports (x86_64), the
#                     lab's unit tests, the lab on 7.3 (arm64, x86_64,
#                     riscv64), a 6.12 subset and a 6.1 smoke test
#   make deps         only the installation (QEMU=backports: also QEMU 10)
#   make test         the lab's unit tests (recorded logs, no VM)
#   make static       the static checks of BASE's series: checkpatch
#                     --strict, git am of the mails, kernel-doc, rst,
#                     shellcheck, every patch compiled on every arch it
#                     touches; static-ci: what check runs, static-all:
#                     every series and fix
#   make report       docs/results/NAME.md (NAME=check) and the README's
#                     headline table, from the last run's results.json
#                     (RESULTS=path for another run's)
#   make list         the scenarios and the architectures
#   make check-full   static checks of every series and fix, every
#                     scenario on 7.3 and 6.12 (x86_64, arm64, riscv64,
#                     arm, ppc64le) and 6.1 (x86_64, arm64, riscv64):
#                     more than CI's budget on 2 cores
#   make bench        time the kexec shutdown path, base vs patched vs the
#                     RFC (rfc/fast-teardown/ on top of v6 on RFC_BASE,
#                     7.3; arm64, riscv64), 2, 4, 8 vCPUs
#   make torture      KEXECS (200) kexecs under the hotplug storm at TSMP (8)
#                     vCPUs, on ARCH, on v6 on mainline (TBASE 7.3, TKERNEL
#                     patched; TKERNEL=rfc: the RFC, on RFC_BASE 7.3),
#                     TGENS (25) per QEMU session; fails on any splat;
#                     TMIN=N stops after N minutes (the count is printed),
#                     TCMDLINE="..." extra kernel parameters,
#                     TICOUNT: QEMU -icount shift, the guest clock
#                     counts instructions (one host thread); 'off' for
#                     multi-threaded TCG on the host clock; 'arch' (the
#                     default): torture_icount in the arch's .conf, else 0;
#                     TKERNEL: patched, base, rfc, or several
#                     (base,patched) whose sessions alternate
#   make static-rfc   the same static checks of rfc/fast-teardown/ (arm64, riscv64)
#   make fix          a bug the lab found outside the series, fixes/$(FIX)/
#                     (powerpc-optprobes): its scenarios on FIX_ARCH (ppc64le),
#                     the base (FIX_BASE, 6.12) against the base plus the fix
#   make static-fix   the same static checks of fixes/$(FIX)/
#   make tree         build/tree/$(BASE): the base with the series as commits
#   make export       write the series back from that tree
#   make apply KERNEL=/path   apply the series for your tree's version to it
#                     (all or nothing)
#   make validate KERNEL=/path [KCONFIG=/path/.config] [ARCH=...]
#                     run the lab on a copy of your tree, without and with
#                     the series, and print the table
#   make clean        remove build/ (cache/ keeps the downloads)

ARCH      ?= x86_64
# The QEMU the lab runs: system (Debian 12's 7.2) or backports (QEMU 10
# and its firmware from bookworm-backports, unpacked into cache/qemu by
# scripts/fetch-qemu.sh, which make deps runs for it).
QEMU      ?= system
export LAB_QEMU := $(QEMU)
# The base of series/; every other base has its series in backports/BASE/
# (scripts/tree.sh and lab/labtool/kernel.py say the same).
SERIES_BASE := 7.3
BASE      ?= $(SERIES_BASE)
# The base the RFC (rfc/fast-teardown/) applies to, for bench and torture.
RFC_BASE  ?= 7.3
SCENARIOS ?=
CMDLINE   ?=
SMP       ?= 4
ITER      ?= 3
GENS      ?= 3
# RATES=1: every scenario runs exactly ITER times on each kernel, on after
# an expected failure too, for failure rates.
RATES     ?=
# CI-sized runs: the racy scenarios run fewer times.
# 7.3 on three arches: arm64 (its kexec takes CPUs down through the
# teardown the series changes: window, storm, teardown and reboot CPU
# scenarios), x86_64 (the kselftest, which fails on base, and the storm)
# and riscv64 (the teardown failure). The backports: a 6.12 subset (the
# teardown failures on arm64, the storm on x86_64) and a 6.1 smoke test
# (arm64: the teardown failures and one kexec). riscv64's storm is left
# to make check-full: 145 s per run. Building kernels costs most: on 2
# cores a cold arm64 pair took 7m44s plus 5m30s (the patched build
# rebuilds everything that includes <linux/cpu.h>), so without a warm
# compiler cache the six pairs below take over an hour; with it, a pair
# takes a minute or two.
# With the v5 6.1 backport, in one run a kexec'd 6.1 arm64 kernel hung
# early in its boot (after "Running RCU-tasks wait API self tests",
# before SMP bring-up), 1 of about 30 second boots; not understood yet.
CHECK_RUNS ?= 7.3:arm64:window+kexec-storm+teardown-isolcpus+teardown-fail+offline-before-kexec+reboot-cpu-cmdline+rcpu-offline \
              7.3:x86_64:selftest+kexec-storm 7.3:riscv64:teardown-fail \
              6.12:arm64:teardown-isolcpus+teardown-housekeeping+teardown-fail 6.12:x86_64:kexec-storm \
              6.1:arm64:teardown-housekeeping+teardown-fail+offline-before-kexec
FULL_RUNS  ?= 7.3:x86_64 7.3:arm64 7.3:riscv64 7.3:arm 7.3:ppc64le \
              6.12:x86_64 6.12:arm64 6.12:riscv64 6.12:arm 6.12:ppc64le \
              6.1:x86_64 6.1:arm64 6.1:riscv64
CHECK_ITER ?= 2
CHECK_GENS ?= 2

# Debian's python3: its docutils and ply come from Debian packages.
PY  := $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)
LAB := $(PY) lab/lab.py

.PHONY: all lab deps check check-full report list static static-ci static-all test bench torture static-rfc fix static-fix tree export apply validate clean help

all: deps lab

help:
	@sed -n '1,/^$$/p' Makefile

deps:
	@sh scripts/install-deps.sh
	@if [ "$(QEMU)" = backports ]; then sh scripts/fetch-qemu.sh; fi

lab:
	$(LAB) run --arch $(ARCH) --base $(BASE) --scenarios "$(SCENARIOS)" \
		--cmdline "$(CMDLINE)" --smp $(SMP) --iterations $(ITER) --gens $(GENS) $(if $(RATES),--rates) \
		--command "make ARCH=$(ARCH) BASE=$(BASE) QEMU=$(QEMU) ITER=$(ITER) GENS=$(GENS)$(if $(RATES), RATES=1)$(if $(SCENARIOS), SCENARIOS=$(SCENARIOS))"

# CI: the static checks of v6 on 7.3, of the fixes, and of the 6.12 backport
# on x86_64 (every backport on every arch: static-all, check-full).
check: deps static-ci test
	$(LAB) run --runs "$(CHECK_RUNS)" --smp $(SMP) \
		--iterations $(CHECK_ITER) --gens $(CHECK_GENS) --command "make check QEMU=$(QEMU)"

# The fixes are compiled for the arches the lab boots in CI (static-all:
# every arch).
CI_ARCHES ?= x86_64,arm64,riscv64
static-ci:
	$(LAB) static --base $(SERIES_BASE)
	$(LAB) static --base $(SERIES_BASE) --fix sched-deadline-nocpusets --arches $(CI_ARCHES)
	$(LAB) static --base $(SERIES_BASE) --fix cpu-hotplug-last-housekeeping --arches $(CI_ARCHES)
	$(LAB) static --base $(SERIES_BASE) --fix riscv-kexec-irqs --arches $(CI_ARCHES)
	$(LAB) static --base $(SERIES_BASE) --fix x86-real-bsp-ipi-shorthand --arches $(CI_ARCHES)
	$(LAB) static --base $(SERIES_BASE) --fix selftests-kexec-hotplug --arches $(CI_ARCHES)
	$(LAB) static --base 6.12 --arches x86_64
	$(LAB) static --base 6.1 --arches x86_64

check-full: deps static-all test
	$(LAB) run --runs "$(FULL_RUNS)" --smp $(SMP) \
		--iterations $(CHECK_ITER) --gens $(CHECK_GENS) --command "make check-full QEMU=$(QEMU)"

# The last run's results (RESULTS) as docs/results/$(NAME).md, and the
# README's headline table from them.
RESULTS ?= build/report/results.json
NAME    ?= check
report:
	$(LAB) report --results $(RESULTS) --name $(NAME) --readme README.md

list:
	@$(LAB) list

static:
	$(LAB) static --base $(BASE)

static-rfc:
	$(LAB) static --base $(RFC_BASE) --rfc

# The fixes found on the way, each on the base it is for (FIXES_ON).
FIXES_ON ?= 7.3:sched-deadline-nocpusets 7.3:cpu-hotplug-last-housekeeping 7.3:riscv-kexec-irqs \
	7.3:x86-real-bsp-ipi-shorthand 7.3:selftests-kexec-hotplug 6.12:powerpc-optprobes

static-all:
	$(LAB) static --base $(SERIES_BASE)
	$(LAB) static --base 6.12
	$(LAB) static --base 6.1
	@set -e; for f in $(FIXES_ON); do \
		echo "$(LAB) static --base $${f%%:*} --fix $${f#*:}"; \
		$(LAB) static --base $${f%%:*} --fix $${f#*:}; done

FIX      ?= powerpc-optprobes
FIX_ARCH ?= ppc64le
FIX_BASE ?= 6.12
FIX_ITER ?= 6

static-fix:
	$(LAB) static --base $(FIX_BASE) --fix $(FIX)

fix: deps
	$(LAB) run --arch $(FIX_ARCH) --base $(FIX_BASE) --fix $(FIX) --smp $(SMP) --iterations $(FIX_ITER)

test:
	$(LAB) test

BENCH_ARCH ?= x86_64,arm64,riscv64
BENCH_SMP  ?= 2,4,8
BENCH_RUNS ?= 5
KEXECS ?= 200
TSMP   ?= 8
TGENS  ?= 25
TMIN   ?= 0
TCMDLINE ?=
TICOUNT ?= arch
# torture: v6 on mainline by default; TKERNEL=rfc TBASE=$(RFC_BASE) for the RFC.
TKERNEL ?= patched
TBASE   ?= $(SERIES_BASE)

bench: deps
	$(LAB) bench --base $(RFC_BASE) --arch $(BENCH_ARCH) --smp $(BENCH_SMP) --runs $(BENCH_RUNS)

torture: deps
	$(LAB) torture --base $(TBASE) --arch $(ARCH) --smp $(TSMP) --kexecs $(KEXECS) --gens $(TGENS) --minutes $(TMIN) --cmdline "$(TCMDLINE)" --icount $(TICOUNT) --kernel $(TKERNEL)

tree:
	$(LAB) tree --base $(BASE)

export:
	$(LAB) export --base $(BASE)

apply:
	@test -n "$(KERNEL)" || { echo "usage: make apply KERNEL=/path/to/linux" >&2; exit 2; }
	$(LAB) apply "$(KERNEL)"

# A copy of the user's tree is built twice (as found, and with the series
# for its version) and run through the lab's scenarios.
validate:
	@test -n "$(KERNEL)" || { echo "usage: make validate KERNEL=/path/to/linux [KCONFIG=/path/to/.config] [ARCH=x86_64]" >&2; exit 2; }
	$(LAB) validate "$(KERNEL)" --arch "$(ARCH)" $(if $(KCONFIG),--kconfig "$(KCONFIG)") \
		--scenarios "$(SCENARIOS)" --cmdline "$(CMDLINE)" --smp $(SMP) \
		--iterations $(ITER) --gens $(GENS) --command "make validate KERNEL=$(KERNEL)"

clean:
	rm -rf build
