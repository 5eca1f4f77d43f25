"""Run scenarios on base and patched kernels, interleaved, and collect results."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, asdict

from . import hooks, kernel, parser, qemu, scenarios, verdict
from .verdict import Expect, Outcome
from .util import BUILD, LabError, log, fmt_secs


@dataclass
class Result:
    arch: str
    base: str
    kernel: str
    scenario: str
    expected: Expect
    result: Outcome
    evidence: str
    runs: int = 0
    failed_runs: int = 0
    logs: list = None
    # Failed, but not with the failure the scenario is about.
    unrelated_failure: bool = False
    # The exact source built: "6.12.118" from the base's Makefile, and the
    # Debian package and version of its tarball (kernel.tree_source()).
    kernel_version: str = ""
    source_package: str = ""
    source_version: str = ""
    # The QEMU as it names itself and the firmware it boots (qemu.describe()).
    emulator: str = ""
    firmware: str = ""
    # Failed runs the lab recognises (hooks.KNOWN), by counter name.
    known: dict = None

    def __post_init__(self):
        # From results.json the three are strings.
        self.expected, self.result = Expect(self.expected), Outcome(self.result)

    @property
    def verdict(self):
        return verdict.verdict(self.expected, self.result, self.unrelated_failure)


def timeout_for(sc, smp=4):
    """A VM's time budget: 90 s, and 45 s per kexec at up to 4 vCPUs. TCG
    shares the host's cores among the vCPUs, so a kexec takes longer with
    more of them (riscv64 at 8 vCPUs under make torture: 24 kexecs in
    1217 s); the budget per kexec grows with smp past 4."""
    return 90 + 45 * sc.gens * max(1.0, smp / 4)


SELFTEST = "tools/testing/selftests/kexec/vmtest_hotplug.sh"


# v6 sends the selftest on its own (fixes/<name>/); the backports carry it.
SELFTEST_FIX = "selftests-kexec-hotplug"


def run_selftest(arch, img, sc, opts, logfile):
    """The kselftest on one kernel; (ok, evidence, counters, secs)."""
    tree = opts.tree or kernel.tree_dir(opts.base)
    branch = "series"
    if not opts.tree and opts.base == kernel.SERIES_BASE:
        kernel.prepare_fix(opts.base, SELFTEST_FIX)
        branch = f"fix-{SELFTEST_FIX}"
    kernel.git(tree, "checkout", "-q", "-f", branch)
    # The test starts qemu-system-ARCH from PATH: the shim runs the QEMU
    # the lab chose and saves the vCPUs at a reset, a stall or the test's
    # timeout, as qemu.boot() does (qemu_shim.py).
    for f in (logfile + ".regs", logfile + ".qemu"):
        if os.path.exists(f):
            os.unlink(f)
    bindir = tempfile.mkdtemp(prefix="lab-selftest-")
    shim = os.path.join(bindir, arch.qemu)
    with open(shim, "w") as f:
        f.write(f'#!/bin/sh\nexec {sys.executable} {os.path.join(os.path.dirname(__file__), "qemu_shim.py")} "$@"\n')
    os.chmod(shim, 0o755)
    env = dict(os.environ, CROSS_COMPILE=arch.cross, PATH=f"{bindir}:{os.environ.get('PATH', '')}",
               LAB_SHIM_QEMU=shutil.which(qemu.binary(arch)) or qemu.binary(arch),
               LAB_SHIM_PREFIX=json.dumps(qemu.machine_args(arch)[:-len(arch.qemu_args) or None]),
               LAB_SHIM_PAUSE="1" if getattr(arch, "pause_on_reset", "") == "yes" else "",
               LAB_SHIM_APPEND=getattr(arch, "boot_quirks", ""),
               LAB_SHIM_OUT=logfile)
    cmd = ["bash", os.path.join(tree, SELFTEST), "-k", img["image"], "-c", img["config"],
           "-a", arch.name, "-n", str(opts.smp)]
    start = time.monotonic()
    try:
        p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=600)
    finally:
        shutil.rmtree(bindir, ignore_errors=True)
    with open(logfile, "w") as f:
        f.write(p.stdout)
    ok, evidence, _ = sc.check(p.stdout, sc)
    evidence = f"exit {p.returncode}: {evidence}"
    if not ok:
        states = qemu.triple_fault_states(logfile, os.path.join(os.path.dirname(img["image"]), "vmlinux"),
                                          f"{arch.cross}nm")
        evidence += f"; x86 triple fault, vCPUs at the reset: {states}" if states \
            else snapshot_note(arch, img, logfile)
    return ok, evidence, {}, time.monotonic() - start


def boot(arch, img, smp, append, logfile, timeout, **qemu_kw):
    """One guest: QEMU boots the kernel of img, and its console log is
    parsed (scenarios.Run). run, bench and torture boot through here."""
    text, secs, timed_out = qemu.boot(arch, img["image"], img["initrd"], smp, append, logfile, timeout,
                                      **qemu_kw)
    return scenarios.Run(parser.parse(text), timed_out, secs, logfile, smp)


def rounds(kernels, attempt, wanted):
    """The kernels take turns, round after round, so that the host's noise
    hits them alike: round i calls attempt(k, i) for every kernel k that
    wanted(k, i) keeps (asked before the round starts), and the first
    round that keeps none ends it. run, bench and torture loop through
    here."""
    i = 0
    while True:
        active = [k for k in kernels if wanted(k, i)]
        if not active:
            return i
        for k in active:
            attempt(k, i)
        i += 1


def run_one(arch, images, sc, kname, i, opts, logdir):
    img = images[kname]
    logfile = os.path.join(logdir, f"{arch.name}-{opts.label}-{kname}-{sc.name}-{i}.log")
    if sc.selftest:
        ok, evidence, counters, secs = run_selftest(arch, img, sc, opts, logfile)
        return ok, evidence, counters, logfile, secs
    append = " ".join(x for x in (scenarios.guest_params(sc), sc.append, opts.cmdline) if x)
    run = boot(arch, img, opts.smp, qemu.cmdline(arch, append, opts.base), logfile, timeout_for(sc, opts.smp),
               topology=sc.topology, dtb_fix=sc.dtb_fix, **({"eject": True} if sc.eject else {}))
    secs = run.secs
    ok, evidence, counters = sc.check_for(opts.base)(run, sc)
    counters = dict(counters or {})
    shows_it = sc.fail_signature and sc.fail_signature in evidence
    note = snapshot_note(arch, img, logfile)
    # A failure the lab recognises stays a failure: it is named, not retried.
    known = None if ok or shows_it else hooks.known_failure(arch, run, logfile, note, img)
    for k in hooks.KNOWN:
        counters[k.counter] = int(known is not None and known[0] is k)
    if known:
        evidence = f"{known[1]}; {evidence}"
    evidence += note
    return ok, evidence, counters, logfile, secs


def snapshot_note(arch, img, logfile):
    """Where the vCPUs were when a CPU failed to come up or stalled (qemu.SNAPSHOT_ON), or ''."""
    if not os.path.exists(logfile + ".regs"):
        return ""
    vmlinux = os.path.join(os.path.dirname(img["image"]), "vmlinux")
    where = qemu.snapshot_summary(logfile, vmlinux, f"{arch.cross}nm")
    return f" [vCPUs then: {where or 'see'} {os.path.basename(logfile)}.regs]"


def run_scenario(arch, images, sc, opts, logdir):
    """Runs of one scenario, base and patched interleaved.

    A scenario expected to fail on a kernel stops there at the first
    failing run (up to sc.max_iterations runs): one failure shows it. One
    expected to pass runs sc.iterations times, and on until its
    sc.require counters are met (up to sc.max_iterations runs). With
    opts.rates, each kernel runs exactly sc.iterations times.
    """
    results = {}
    state = {k: {"runs": 0, "failed": 0, "first_fail": None, "last_ok": None, "logs": [],
                 "expected_seen": False, "other_fail": None, "counters": {}}
             for k in images}
    limit = max(sc.iterations, getattr(sc, "max_iterations", 0) or 0)
    # For failure rates: exactly sc.iterations runs of each kernel.
    rates = getattr(opts, "rates", False)
    if rates:
        limit = sc.iterations
    def wanted(k, i):
        st = state[k]
        exp = sc.expected(arch.name, k, opts.base)
        if i >= limit:
            return False
        if rates:
            return True
        if exp == Expect.FAIL and st["expected_seen"]:
            return False
        unmet = any(st["counters"].get(n, 0) < m for n, (m, _) in sc.require.items())
        more = (exp == Expect.FAIL and not st["expected_seen"]) or (exp == Expect.PASS and unmet
                                                                      and not st["failed"])
        return i < sc.iterations or more

    def attempt(k, i):
        st = state[k]
        ok, evidence, counters, logfile, secs = run_one(arch, images, sc, k, i, opts, logdir)
        st["runs"] += 1
        for name, n in counters.items():
            st["counters"][name] = st["counters"].get(name, 0) + n
        st["logs"].append(os.path.relpath(logfile, os.path.join(BUILD, "report")))
        if ok:
            st["last_ok"] = evidence
        else:
            st["failed"] += 1
            if sc.fail_signature and sc.fail_signature not in evidence:
                st["other_fail"] = st["other_fail"] or f"run {i + 1}: {evidence}"
            else:
                st["expected_seen"] = True
                st["signature_runs"] = st.get("signature_runs", 0) + 1
                st["resets"] = st.get("resets", 0) + ("x86 triple fault" in evidence)
                st["first_fail"] = st["first_fail"] or f"run {i + 1}: {evidence}"
        log(f"  {arch.name} {opts.label} {k:7} {sc.name} run {i + 1}: "
            f"{'pass' if ok else 'FAIL'} ({secs:.0f}s) {evidence[:150]}")

    rounds(list(images), attempt, wanted)
    for k, st in state.items():
        failed = st["failed"]
        rate = f"{failed}/{st['runs']} runs failed"
        if rates and failed and sc.fail_signature:
            rate += f" ({st.get('signature_runs', 0)} with '{sc.fail_signature}'"
            rate += f", {st['resets']} of them ended in an x86 triple fault)" if st.get("resets") else ")"
        if st["other_fail"]:
            # A failure that is not the one the scenario is about.
            res, evidence = Outcome.FAIL, f"{rate}; unrelated failure, {st['other_fail']}"
        elif failed:
            res, evidence = Outcome.FAIL, f"{rate}; {st['first_fail']}"
        else:
            res, evidence = Outcome.PASS, f"{rate}; {st['last_ok']}"
            for name, (minimum, why) in sc.require.items():
                total = st["counters"].get(name, 0)
                if total < minimum:
                    # Not the failure the scenario is about, on either kernel.
                    res, evidence = Outcome.FAIL, f"{rate}, but {name}={total} over all runs: {why}"
                    st["other_fail"] = evidence
                else:
                    evidence += f" ({name}={total} over {st['runs']} runs)"
        for kn in hooks.KNOWN:
            n = st["counters"].get(kn.counter, 0)
            if n:
                evidence = f"{evidence} ({n} of the failed runs: {kn.short}, see docs/lab.md)"
        results[k] = Result(arch.name, opts.label, k, sc.name, sc.expected(arch.name, k, opts.base), res, evidence,
                            st["runs"], failed, st["logs"], bool(st["other_fail"]),
                            known={kn.counter: st["counters"][kn.counter] for kn in hooks.KNOWN
                                   if st["counters"].get(kn.counter)})
    return results


def prepare(arch, opts, extra=()):
    """Build (or reuse) both kernels and their initramfs.

    With opts.fix, 'patched' is the base plus fixes/<fix>/ instead of the series.
    extra: config fragments of a scenario's own kernels (Scenario.config).
    """
    fix = getattr(opts, "fix", None)
    if opts.tree:
        tree = opts.tree
    elif fix:
        tree = kernel.prepare_fix(opts.base, fix)
    else:
        tree = kernel.prepare_tree(opts.base)
    kernel.fetch_kexec_tools(arch)
    images = {}
    for k in kernel.KERNELS:
        name = f"fix-{fix}" if fix and k == "patched" else k
        images[k] = image_set(arch, kernel.build(opts.base, arch, name, tree=tree, kconfig=opts.kconfig,
                                                 label=opts.label, extra=extra))
    return images


def image_set(arch, d):
    """A built kernel's image, config and the initramfs made for it."""
    initrd, tools = kernel.initramfs(arch, os.path.join(d, arch.kexec_file or "image"))
    return {"image": os.path.join(d, "image"), "initrd": initrd, "tools": tools,
            "config": os.path.join(d, "config")}


def check_bootable(arch):
    """Refuse an arch the lab does not boot, or not with the chosen QEMU."""
    if getattr(arch, "not_booted", ""):
        # The kernels are compiled per patch by 'make static'; QEMU cannot
        # run what the scenarios need on this arch (the .conf says why).
        raise LabError(f"{arch.name}: not booted in the lab: {arch.not_booted}")
    if getattr(arch, "qemu_needs", "") and qemu.chosen() != arch.qemu_needs:
        raise LabError(f"{arch.name} needs QEMU={arch.qemu_needs} (lab/arch/{arch.name}.conf says why); "
                       f"this run uses QEMU={qemu.chosen()}")


def run_arch(arch, opts, selected):
    check_bootable(arch)
    logdir = os.path.join(BUILD, "report", "logs")
    os.makedirs(logdir, exist_ok=True)
    start = time.monotonic()
    images = prepare(arch, opts)
    src = kernel.tree_source(getattr(opts, "tree", None) or kernel.tree_dir(opts.base))
    emu = qemu.describe(arch)
    log(f"{arch.name} {opts.label}: kernels ready after {fmt_secs(time.monotonic() - start)}: "
        f"{kernel.describe(src)}; {emu['emulator']}{', ' + emu['firmware'] if emu['firmware'] else ''}")
    out = []
    variants = {}
    for sc in selected:
        if sc.arches and arch.name not in sc.arches:
            continue
        if sc.bases and opts.base not in sc.bases:
            continue
        skip = (f"needs QEMU={sc.qemu_needs[0]}: {sc.qemu_needs[1]}"
                if sc.qemu_needs and qemu.chosen() != sc.qemu_needs[0] else
                "Debian kexec-tools not available for this architecture"
                if sc.needs_tools and not all(v["tools"] for v in images.values()) else None)
        if skip:
            out.extend(Result(arch.name, opts.label, k, sc.name, sc.expected(arch.name, k, opts.base),
                              Outcome.SKIP, skip) for k in images)
            continue
        t = time.monotonic()
        if sc.config and sc.config not in variants:
            log(f"{arch.name} {opts.label} {sc.name}: kernels with lab/config/{sc.config}.config")
            variants[sc.config] = prepare(arch, opts, extra=(sc.config,))
        res = run_scenario(arch, variants[sc.config] if sc.config else images, sc, opts, logdir)
        out.extend(res[k] for k in kernel.KERNELS)
        log(f"{arch.name} {opts.label} {sc.name}: done in {fmt_secs(time.monotonic() - t)}")
    for r in out:
        for k, v in {**src, **qemu.describe(arch)}.items():
            setattr(r, k, v)
    return out


def save(results, path, run=None):
    """results.json: {"run": what ran when, "results": one row per cell}."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"run": run or {}, "results": [asdict(r) for r in results]}, f, indent=1)


def load(path):
    """(run, results) from a results.json save() wrote."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise LabError(f"{path}: cannot read the results: {e}")
    rows = data["results"] if isinstance(data, dict) else data
    known = {f for f in Result.__dataclass_fields__}
    return (data.get("run", {}) if isinstance(data, dict) else {},
            [Result(**{k: v for k, v in row.items() if k in known}) for row in rows])
