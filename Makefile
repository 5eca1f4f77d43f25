# The v5 series "keep CPU hotplug disabled from choosing the reboot CPU to
# the end" and the lab that proves it. See README.md.
#
#   make              install what is missing, build base and patched
#                     kernels, boot them in QEMU, print the comparison
#   make check        what CI runs: static checks of the series, the lab's
#                     unit tests, the lab on every CI architecture
#   make bench        time the kexec shutdown path, base vs patched
#   make tree         build/tree/$(BASE): the base with the series as commits
#   make export       write the series back from that tree
#   make apply KERNEL=/path   apply the series for your tree's version to it
#                     (all or nothing)
#   make validate KERNEL=/path [KCONFIG=/path/.config] [ARCH=...]
#                     run the lab on a copy of your tree, without and with
#                     the series, and print the table

ARCH      ?= x86_64
BASE      ?= 6.12
SCENARIOS ?=
CMDLINE   ?=
SMP       ?= 4
ITER      ?= 3
GENS      ?= 3
# CI-sized runs: the racy scenarios run fewer times.
CHECK_ARCHES ?= x86_64 arm64
CHECK_ITER   ?= 2
CHECK_GENS   ?= 2

# Debian's python3: its docutils and ply come from Debian packages.
PY  := $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)
LAB := $(PY) lab/lab.py
SERIES_DIR = $(if $(filter 6.12,$(BASE)),series,backports/$(BASE))

.PHONY: all lab deps check static test bench tree export apply validate clean help

all: deps lab

help:
	@sed -n '1,/^$$/p' Makefile

deps:
	@sh scripts/install-deps.sh

lab:
	$(LAB) run --arch $(ARCH) --base $(BASE) --scenarios "$(SCENARIOS)" \
		--cmdline "$(CMDLINE)" --smp $(SMP) --iterations $(ITER) --gens $(GENS)

check: deps static test
	$(LAB) run --arch "$(CHECK_ARCHES)" --base $(BASE) --smp $(SMP) \
		--iterations $(CHECK_ITER) --gens $(CHECK_GENS)

static:
	$(PY) scripts/check_series.py --base $(BASE)

test:
	$(LAB) test

bench: deps
	$(LAB) bench --base $(BASE)

tree:
	sh scripts/tree.sh tree $(BASE) $(SERIES_DIR) build/tree/$(BASE)

export:
	sh scripts/tree.sh export $(BASE) $(SERIES_DIR) build/tree/$(BASE)

apply:
	@test -n "$(KERNEL)" || { echo "usage: make apply KERNEL=/path/to/linux" >&2; exit 2; }
	sh scripts/tree.sh apply "$(KERNEL)"

# A copy of the user's tree is built twice (as found, and with the series
# for its version) and run through the lab's scenarios.
validate:
	@test -n "$(KERNEL)" || { echo "usage: make validate KERNEL=/path/to/linux [KCONFIG=/path/to/.config] [ARCH=x86_64]" >&2; exit 2; }
	@test -z "$(KCONFIG)" || test -f "$(KCONFIG)" || { echo "make validate: KCONFIG=$(KCONFIG): no such file" >&2; exit 2; }
	@base=$$(sh scripts/tree.sh version "$(KERNEL)") && \
	sh scripts/tree.sh import "$(KERNEL)" build/validate/tree && \
	$(LAB) run --arch "$(ARCH)" --base $$base --tree build/validate/tree \
		$(if $(KCONFIG),--kconfig "$(KCONFIG)") --label validate-$$base \
		--scenarios "$(SCENARIOS)" --cmdline "$(CMDLINE)" --smp $(SMP) \
		--iterations $(ITER) --gens $(GENS)

clean:
	rm -rf build
