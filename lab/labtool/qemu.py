"""Boot one VM and capture its serial console. The only module that knows QEMU."""

import os
import subprocess
import time

from .util import LabError

# Every generation gets the same tracing: boot-time kprobe events (enabled
# by kprobe_event= itself), printed to the console with tp_printk. They mark
# the points of the reboot path, the first step of every CPU hotplug
# operation that got past the cpu_hotplug_disabled check (the first state
# callback of a bring-up, smpboot_create_threads(), and of a teardown,
# sched_cpu_deactivate()), and the result of every sysfs attempt (the SMT
# control's through cpuhp_smt_disable(): control_store() is not unique).
TRACE = ("kprobe_event="
         "p:lab/lab_kexec,kernel_kexec;"
         "r:lab/lab_mig,migrate_to_reboot_cpu;"
         "p:lab/lab_teardown,smp_shutdown_nonboot_cpus;"
         "p:lab/lab_jump,machine_kexec;"
         "p:lab/lab_up_start,smpboot_create_threads,cpu=$arg1:u32;"
         "p:lab/lab_down_start,sched_cpu_deactivate,cpu=$arg1:u32;"
         "r:lab/lab_up,cpu_device_up,ret=$retval:s32;"
         "r:lab/lab_down,cpu_device_down,ret=$retval:s32;"
         "r:lab/lab_target,target_store,ret=$retval:s32;"
         "r:lab/lab_smt,cpuhp_smt_disable,ret=$retval:s32 "
         "tp_printk")


def cmdline(arch, extra):
    return " ".join(x for x in (f"console={arch.console}", arch.cmdline, "panic=-1",
                                "oops=panic", TRACE, extra) if x)


def boot(arch, image, initrd, smp, append, logfile, timeout, topology=""):
    """Run QEMU until the guest ends it (-no-reboot) or timeout.

    Returns (console text, seconds, timed_out).
    """
    smp_arg = f"{smp},{topology}" if topology else str(smp)
    cmd = [arch.qemu, *arch.qemu_args, "-smp", smp_arg, "-nodefaults", "-no-reboot",
           "-display", "none", "-monitor", "none", "-serial", f"file:{logfile}",
           "-kernel", image, "-initrd", initrd, "-append", append]
    start = time.monotonic()
    try:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    except FileNotFoundError:
        raise LabError(f"{arch.qemu} not found (run 'make deps')")
    timed_out = False
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        timed_out = True
    secs = time.monotonic() - start
    if not timed_out and p.returncode not in (0,):
        raise LabError(f"{arch.qemu} failed (exit {p.returncode}): {err.decode(errors='replace')[-500:]}")
    with open(logfile, errors="replace") as f:
        text = f.read()
    return text, secs, timed_out
