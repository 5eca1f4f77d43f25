"""Per-architecture data, read from lab/arch/<name>.conf."""

import configparser
import os

from .util import LAB, ConfigError

FIELDS = ("karch", "cross", "guest_cc", "image", "qemu", "qemu_args", "console",
          "cmdline", "deb_arch", "lib_dirs", "hwid_source", "kexec_file", "dtb_fix",
          "loader", "kprobe_arg1", "boot_quirks", "not_booted", "torture_icount", "no_trace", "pause_on_reset",
          # nolibc guests, QEMU's device tree built into the kernel, the
          # QEMU the arch needs (lab/arch/loongarch64.conf)
          "guest_libc", "builtin_dtb", "builtin_dtb_smp", "qemu_needs",
          # cpu0: kexec enters the new kernel on logical CPU 0, whatever
          # the reboot CPU
          "kexec_entry",
          # yes: rfc/fast-teardown/ is built and run there (bench,
          # torture, make static-rfc)
          "rfc",
          # hotplug: kexec takes the other CPUs down through CPU hotplug
          # (smp_shutdown_nonboot_cpus()), so the teardown scenarios run
          "kexec_teardown",
          # the firmware QEMU boots, recorded with every result: seabios,
          # opensbi ('-bios default' is the chosen QEMU's own)
          "firmware",
          # QEMU's -d log items, written next to the console log
          "qemu_debug",
          # make static: the defconfig, options added to it, LLVM suffix
          # instead of the cross gcc, the bases compiled (empty: all).
          "defconfig", "static_config", "llvm", "static_bases",
          # make static on bases that Debian 12's compilers cannot build
          # for the arch: compiled with another Debian release's cross gcc
          # (chroot_cross prefix) in a chroot of chroot_suite with
          # chroot_packages, made by scripts/make-chroot.sh under cache/
          # (kernel.make_cmd(), kernel.make_chroot()).
          "chroot_bases", "chroot_suite", "chroot_cross", "chroot_packages")


class Arch:
    def __init__(self, name, data):
        self.name = name
        for f in FIELDS:
            setattr(self, f, data.get(f, "").strip())
        self.qemu_args = self.qemu_args.split()
        self.lib_dirs = self.lib_dirs.split()
        self.no_trace = self.no_trace.split()
        self.static_config = self.static_config.split()
        self.static_bases = self.static_bases.split()
        self.chroot_bases = self.chroot_bases.split()
        self.chroot_packages = self.chroot_packages.split()
        if self.chroot_bases and not (self.chroot_suite and self.chroot_cross and self.chroot_packages):
            raise ConfigError(f"lab/arch/{name}.conf: chroot_bases needs chroot_suite, chroot_cross "
                              f"and chroot_packages")

    def __repr__(self):
        return f"Arch({self.name})"


def available():
    d = os.path.join(LAB, "arch")
    return sorted(f[:-5] for f in os.listdir(d) if f.endswith(".conf"))


def names_with(field, value):
    """The arches whose .conf sets field to value."""
    return tuple(a for a in available() if getattr(load(a), field) == value)


def load(name):
    path = os.path.join(LAB, "arch", f"{name}.conf")
    if not os.path.exists(path):
        raise ConfigError(f"unknown architecture '{name}'; known: {', '.join(available())}")
    cp = configparser.ConfigParser(interpolation=None)
    cp.read(path)
    return Arch(name, cp["arch"])
