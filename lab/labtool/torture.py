"""make torture: long kexec chains under the hotplug storm on the rfc kernel.

The kexec-storm scenario (every CPU cycled offline/online from sysfs, the
reboot CPU included) as chains of --gens kexecs per QEMU session, sessions
one after the other until --kexecs kexecs are done. A session fails on
anything check_kexec() fails on (a splat: BUG, WARNING, lockdep, hung
task, stuck CPU, panic; a timeout; a generation that did not boot with
every CPU online), on a CPU hotplug operation between
migrate_to_reboot_cpu() and the jump, and on a kexec that went through
smp_shutdown_nonboot_cpus() (the hotplug teardown the RFC replaces).
The first failing session ends the run.
"""

import os
import time

from . import bench, parser, qemu, runner, scenarios
from .util import BUILD, LabError, fmt_secs, log


def kexecs_done(run):
    """Kexecs that led to a kernel which booted (generations after the first)."""
    return max(0, len([g for g in run.log.generations if g.boot]) - 1)


def check_session(run, sc, kname="rfc"):
    """(ok, evidence, kexecs): check_kexec() plus the RFC's own checks.

    The teardown check applies to the rfc kernel only: base and v5 take
    the CPUs down through smp_shutdown_nonboot_cpus() by design.
    """
    ok, evidence = scenarios.check_kexec(run, sc)
    n = kexecs_done(run)
    if not ok:
        return False, evidence, n
    for g in run.log.generations[:-1]:
        if kname == "rfc" and g.timestamp("lab_teardown") is not None:
            return False, f"generation {g.index}: the kexec went through smp_shutdown_nonboot_cpus()", n
        w = g.window()
        if w and w[0]:
            return False, f"generation {g.index}: hotplug operation inside the window: {w[0][0].line}", n
    return True, evidence, n


def storm_ops(run):
    """CPU hotplug operations the storms got through (first steps of
    bring-ups and teardowns), in every generation of a session."""
    return sum(1 for g in run.log.generations for e in g.events
               if e.name in ("lab_up_start", "lab_down_start"))


def mode(icount):
    """How QEMU ran the vCPUs, for the report lines."""
    if icount is None:
        return "multi-threaded TCG, host clock"
    return f"icount shift={icount}: one host thread, vCPUs interleaved, guest clock 2^{icount} ns per instruction"


def main(arch, base, smp, kexecs, gens, minutes, kname="rfc", cmdline="", icount=None):
    if kexecs < 1 or gens < 1:
        raise LabError("--kexecs and --gens must be at least 1")
    qemu.icount_args(arch, icount)     # bad input fails before any build
    if kname == "rfc" and arch.name not in bench.RFC_ARCHES:
        raise LabError(f"no rfc kernel for {arch.name} (have: {', '.join(bench.RFC_ARCHES)})")
    images = bench.prepare(arch, base)
    img = images[kname]
    outdir = os.path.join(BUILD, "torture")
    os.makedirs(outdir, exist_ok=True)
    start = time.monotonic()
    done = sessions = 0
    kernels = ops = 0
    log(f"torture {arch.name} {kname} smp={smp}: {mode(icount)}")
    while done < kexecs:
        if minutes and time.monotonic() - start > minutes * 60:
            log(f"torture: time budget of {minutes} min used up")
            break
        g = min(gens, kexecs - done)
        sc = scenarios.select(["kexec-storm"], iterations=1, gens=g, smp=smp)[0]
        logfile = os.path.join(outdir, f"{arch.name}-{kname}-smp{smp}-{sessions}.log")
        text, secs, timed_out = qemu.boot(arch, img["image"], img["initrd"], smp,
                                          qemu.cmdline(arch, " ".join(x for x in (scenarios.guest_params(sc), cmdline) if x)),
                                          logfile,
                                          runner.timeout_for(sc), icount=icount)
        run = scenarios.Run(parser.parse(text), timed_out, secs, logfile, smp)
        ok, evidence, n = check_session(run, sc, kname)
        evidence += runner.snapshot_note(arch, img, logfile)
        sessions += 1
        done += n
        kernels += len([x for x in run.log.generations if x.boot])
        ops += storm_ops(run)
        log(f"torture {arch.name} {kname} smp={smp} session {sessions}: {evidence} ({fmt_secs(secs)})")
        if not ok:
            print(f"torture {arch.name} {kname} smp={smp}: FAILED in session {sessions} ({logfile}): {evidence}")
            print(f"torture {arch.name} {kname} smp={smp}: {done} kexecs done before the failure")
            return 1
    wall = fmt_secs(time.monotonic() - start)
    extra = f", extra kernel parameters: {cmdline}" if cmdline else ""
    line = (f"torture {arch.name} {kname} smp={smp} ({mode(icount)}{extra}): {done} kexecs in {sessions} sessions "
            f"under the hotplug storm ({ops} CPU hotplug operations), {kernels} kernels booted with {smp}/{smp} "
            f"CPUs online, 0 failures, {wall}")
    print(line)
    with open(os.path.join(outdir, f"{arch.name}-{kname}-smp{smp}.txt"), "w") as f:
        f.write(line + "\n")
    if done < kexecs:
        print(f"torture {arch.name} {kname} smp={smp}: INCOMPLETE: {done} of {kexecs} kexecs")
        return 1
    return 0
