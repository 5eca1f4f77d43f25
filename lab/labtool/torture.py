"""make torture: long kexec chains under the hotplug storm (the rfc kernel,
v6 (patched) or base; v6 on any base with --base, the rfc on its own).

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

from . import bench, kernel, parser, qemu, runner, scenarios
from .util import BUILD, LabError, fmt_secs, log


def kexecs_done(run):
    """Kexecs that led to a kernel which booted (generations after the first)."""
    return max(0, len([g for g in run.log.generations if g.boot]) - 1)


def check_session(run, sc, kname="rfc"):
    """(ok, evidence, kexecs): check_kexec() plus the RFC's own checks.

    The teardown check applies to the rfc kernel only: base and patched take
    the CPUs down through smp_shutdown_nonboot_cpus() by design.
    """
    ok, evidence, _ = scenarios.check_kexec(run, sc)
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
               if e.name in parser.HOTPLUG_STARTS)


def mode(icount):
    """How QEMU ran the vCPUs, for the report lines."""
    if icount is None:
        return "multi-threaded TCG, host clock"
    return f"icount shift={icount}: one host thread, vCPUs interleaved, guest clock 2^{icount} ns per instruction"


class Tally:
    """One kernel's sessions in a torture run."""

    def __init__(self, kname):
        self.kname = kname
        self.done = self.sessions = self.kernels = self.ops = 0
        self.failed = None     # (session, logfile, evidence) of the failure


def session(arch, img, t, smp, gens, cmdline, icount, outdir, base=None):
    """One QEMU session of gens kexecs on one kernel; updates t. base
    decides whether the lab's trace events are on (no_trace in the
    arch's .conf)."""
    sc = scenarios.select(["kexec-storm"], iterations=1, gens=gens, smp=smp)[0]
    logfile = os.path.join(outdir, f"{arch.name}-{t.kname}-smp{smp}-{t.sessions}.log")
    append = qemu.cmdline(arch, " ".join(x for x in (scenarios.guest_params(sc), cmdline) if x), base)
    run = runner.boot(arch, img, smp, append, logfile, runner.timeout_for(sc, smp), icount=icount)
    ok, evidence, n = check_session(run, sc, t.kname)
    evidence += runner.snapshot_note(arch, img, logfile)
    t.sessions += 1
    t.done += n
    t.kernels += len([x for x in run.log.generations if x.boot])
    t.ops += storm_ops(run)
    log(f"torture {arch.name} {t.kname} smp={smp} session {t.sessions}: {evidence} ({fmt_secs(run.secs)})")
    if not ok:
        t.failed = (t.sessions, logfile, evidence)


def main(arch, base, smp, kexecs, gens, minutes, knames=("rfc",), cmdline="", icount=None):
    """Sessions until every kernel in knames has done kexecs kexecs or
    failed once; with more than one kernel their sessions alternate, so
    that the host's noise hits them alike. 0 when all of them made it."""
    if kexecs < 1 or gens < 1:
        raise LabError("--kexecs and --gens must be at least 1")
    if not knames or len(set(knames)) != len(knames):
        raise LabError(f"--kernel {','.join(knames)}: name each kernel once")
    qemu.icount_args(arch, icount)     # bad input fails before any build
    if "rfc" in knames and arch.name not in bench.RFC_ARCHES:
        raise LabError(f"no rfc kernel for {arch.name} (have: {', '.join(bench.RFC_ARCHES)})")
    if "rfc" in knames and base not in kernel.RFC_DIRS:
        raise LabError(f"no rfc kernel on {base} (the RFC applies to {', '.join(kernel.RFC_DIRS)})")
    images = bench.prepare(arch, base, rfc="rfc" in knames)
    outdir = os.path.join(BUILD, "torture")
    os.makedirs(outdir, exist_ok=True)
    start = time.monotonic()
    tallies = [Tally(k) for k in knames]
    log(f"torture {arch.name} {','.join(knames)} smp={smp}: {mode(icount)}")
    budget = {"used": False}

    def wanted(t, i):
        if t.failed or t.done >= kexecs:
            return False
        if minutes and time.monotonic() - start > minutes * 60:
            if not budget["used"]:
                log(f"torture: time budget of {minutes} min used up")
            budget["used"] = True
        return not budget["used"]

    runner.rounds(tallies, lambda t, i: session(arch, images[t.kname], t, smp, min(gens, kexecs - t.done),
                                                 cmdline, icount, outdir, base), wanted)
    wall = fmt_secs(time.monotonic() - start)
    extra = f", extra kernel parameters: {cmdline}" if cmdline else ""
    rc = 0
    lines = []
    for t in tallies:
        head = f"torture {arch.name} {t.kname} smp={smp} ({mode(icount)}{extra})"
        if t.failed:
            n, logfile, evidence = t.failed
            lines.append(f"{head}: FAILED in session {n} ({logfile}): {evidence}")
            lines.append(f"{head}: {t.done} kexecs in {t.sessions} sessions, the failed one included")
            rc = 1
            continue
        lines.append(f"{head}: {t.done} kexecs in {t.sessions} sessions under the hotplug storm "
                     f"({t.ops} CPU hotplug operations), {t.kernels} kernels booted with {smp}/{smp} CPUs online, "
                     f"0 failures")
        if t.done < kexecs:
            lines.append(f"{head}: INCOMPLETE: {t.done} of {kexecs} kexecs")
            rc = 1
    lines.append(f"torture {arch.name}: {wall} in all")
    print("\n".join(lines))
    with open(os.path.join(outdir, f"{arch.name}-{'-'.join(knames)}-smp{smp}.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return rc
