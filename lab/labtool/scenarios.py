"""Scenarios: what each guest does, and what its console must show.

A scenario is data (kernel parameters for the guest, how many runs, the
expected verdict per kernel) plus one check that turns parsed logs into a
verdict and one evidence line. Expectations:

  pass  the scenario must pass on that kernel
  fail  the scenario must fail there: it shows the problem the series fixes
  any   measured and reported, not counted: the failure is a race that the
        base kernel loses only in some runs (the rate is reported)
"""

import re
from dataclasses import dataclass, field, replace

from . import arch as archmod
from . import parser, qemu
from .verdict import Check, Expect

REBOOTED = "reboot: Restarting system"
POWERED_OFF = "reboot: Power down"


@dataclass
class Scenario:
    name: str
    doc: str
    params: dict
    check: object
    append: str = ""
    gens: int = 1
    iterations: int = 1
    max_iterations: int = 0    # runs allowed to show an expected failure
    # An expected failure counts only if its evidence contains this: a base
    # run that fails for another reason does not show the problem.
    fail_signature: str = ""
    # Counters the check returns, summed over the runs on one kernel, that
    # must reach these minimums for a pass: {name: (minimum, why)}.
    require: dict = field(default_factory=dict)
    expect: dict = field(default_factory=lambda: {"base": "pass", "patched": "pass"})
    needs_tools: bool = False
    # Run the series' kselftest (tools/testing/selftests/kexec/
    # vmtest_hotplug.sh) on the kernel instead of the lab's guest.
    selftest: bool = False
    # Architectures it applies to (None: all), and a QEMU -smp topology.
    arches: tuple = None
    topology: str = ""
    # Per-architecture expectations that differ from 'expect'.
    expect_by_arch: dict = field(default_factory=dict)
    # Boot with the arch's device tree fix (Arch.dtb_fix), if it has one.
    dtb_fix: bool = True
    # Bases it applies to (None: all), and per-base expectations.
    bases: tuple = None
    expect_by_base: dict = field(default_factory=dict)
    # Per-base checks that differ from 'check': the series for that base
    # handles the case differently.
    check_by_base: dict = field(default_factory=dict)
    # Shows a fix in fixes/<fix>/ that is not part of the series: runs only
    # with 'lab.py run --fix <fix>', where 'patched' is the base plus the fix.
    fix: str = ""
    # The hypervisor unplugs the last vCPU during the kexec
    # (qemu._eject()).
    eject: bool = False
    # Runs only when named (--scenarios): an open investigation, not part
    # of 'make' or 'make check'.
    opt_in: bool = False
    # Kernels of its own: the arch's configuration plus
    # lab/config/<config>.config, built next to the others
    # (kernel.build(extra=...)).
    config: str = ""
    # The QEMU it needs (qemu.chosen()), and why; otherwise its cells are
    # skipped with that reason.
    qemu_needs: tuple = ()

    def check_for(self, base):
        return self.check_by_base.get(base, self.check)

    def expected(self, arch, kernel, base=None):
        by_base = self.expect_by_base.get(base, {})
        if kernel in by_base:
            return Expect(by_base[kernel])
        return Expect(self.expect_by_arch.get(arch, {}).get(kernel, self.expect[kernel]))


@dataclass
class Run:
    """One VM run: its parsed log and how it ended."""
    log: parser.Log
    timed_out: bool
    secs: float
    logfile: str
    smp: int


def _common(run, gens):
    """Failures every scenario has in common, or None."""
    log = run.log
    if log.splats:
        g, line = log.splats[0]
        return f"splat in generation {g}: {line}"
    if run.timed_out:
        return f"timeout after {run.secs:.0f}s; last line: {log.last_line}"
    for g in log.generations:
        if g.errors:
            return f"guest error in generation {g.index}: {g.errors[0]}"
    booted = [g for g in log.generations if g.boot]
    if len(booted) < gens + 1:
        return f"{len(booted)} of {gens + 1} generations booted; last line: {log.last_line}"
    return None


def _all_online(run):
    """Every CPU the kernel knows is online, and it knows every CPU.

    On x86 a kernel entered on another CPU than the BSP leaves the BSP out
    on purpose and says so; then one CPU less is expected.
    """
    for g in run.log.generations:
        if not g.boot:
            continue
        online = parser.cpulist(g.boot.get("online"))
        possible = parser.cpulist(g.boot.get("possible"))
        want = run.smp - (1 if g.bsp_disabled else 0)
        if online != possible or len(possible) != want:
            why = f" ({g.bsp_disabled})" if g.bsp_disabled else ""
            return (f"generation {g.index} has CPUs {g.boot.get('online')} online of "
                    f"{g.boot.get('possible')} possible, {want} expected{why}")
    return None


def check_kexec(run, sc):
    """Every generation boots with every CPU online; no splat, no hang."""
    err = _common(run, sc.gens) or _all_online(run)
    if err:
        return Check(False, err)
    if not run.log.generations[-1].done:
        return Check(False, f"last generation did not finish; last line: {run.log.last_line}")
    return Check(True, f"{sc.gens} kexec(s), {len(run.log.generations)} kernels booted with {run.smp}/{run.smp} CPUs online")


def x86_reset(run):
    """The last line of a kexec'd x86 kernel that ended the VM in a triple
    fault with the real BSP left halted (parser.Log.silent_reset_without_bsp()
    and "Triple fault" in QEMU's log), or None."""
    last = None if run.timed_out else run.log.silent_reset_without_bsp()
    return last if last and qemu.triple_fault(run.logfile) else None


def check_bsp_broadcast(run, sc):
    """x86: no reset (QEMU's "Triple fault"), check_kexec, and no kexec'd
    kernel that left the real BSP out allows shorthand IPIs ("IPI
    shorthand broadcast: enabled"): they reach that CPU too, halted in the
    old kernel's memory."""
    left_out = [g for g in run.log.generations[1:] if g.bsp_disabled]
    last = x86_reset(run)
    if last:
        return Check(False, f"x86 triple fault with the real BSP left out and halted (last line: {last[:80]})")
    for g in left_out:
        line = next((l for l in g.lines if "IPI shorthand broadcast: enabled" in l), None)
        if line:
            return Check(False, (f"generation {g.index} left the real BSP out and broadcasts IPIs all the same: "
                           f"{line.strip()}"))
    if not left_out:
        return Check(False, "no kexec'd kernel left the real BSP out: the run proves nothing")
    ok, ev, _ = check_kexec(run, sc)
    if not ok:
        return Check(ok, ev)
    storm = next((m for m in run.log.generations[-1].lab if m.startswith("ipi storm:")), None)
    if not storm:
        return Check(False, "the last generation ran no IPI storm")
    return Check(True, f"{ev}; {storm}")


def check_window(run, sc):
    """No CPU hotplug operation between migrate_to_reboot_cpu() and the teardown.

    Returns a third item, {"refused": N}: attempts refused after
    migrate_to_reboot_cpu(). The scenario requires some over all its runs
    (Scenario.require), else the storm never reached the window and the
    runs prove nothing.
    """
    g = run.log.generations[0]
    w = g.window()
    if w is None:
        err = _common(run, sc.gens)
        return Check(False, err or "no trace of migrate_to_reboot_cpu() in the log (kprobes missing?)", {})
    ops, refused, end = w
    if ops:
        return Check(False, f"{len(ops)} hotplug operation(s) inside the window, first: {ops[0].line}", {})
    ok, evidence, _ = check_kexec(run, sc)
    if not ok:
        return Check(False, evidence, {})
    first = f", first: {refused[0].line}" if refused else ""
    return Check(True, (f"0 hotplug operations after migrate_to_reboot_cpu() until {end}; "
                  f"{len(refused)} attempts refused with -EBUSY{first}"), {"refused": len(refused)})


def check_eject(run, sc):
    """The hypervisor's eject request during kexec (qemu._eject()): no CPU
    hotplug operation between migrate_to_reboot_cpu() and the jump, as in
    check_window(). An eject the guest handled before the window removes
    the vCPU, and the new kernel then has one CPU less; one it handled
    inside the window is refused (cpu_device_down() returns -EBUSY, the
    third item counts it). A run whose request was not sent proves nothing.
    """
    try:
        with open(run.logfile + ".qmp") as f:
            host = f.read().strip()
    except OSError:
        host = "no record of the host's request"
    if not re.search(r": sent;", host):
        return Check(False, f"no eject request sent: {host}", {})
    w = run.log.generations[0].window()
    if w is None:
        err = _common(run, sc.gens)
        return Check(False, f"{err or 'no trace of migrate_to_reboot_cpu() in the log (kprobes missing?)'}; host: {host}", {})
    ops, refused, end = w
    if ops:
        return Check(False, f"{len(ops)} hotplug operation(s) inside the window, first: {ops[0].line}; host: {host}", {})
    err = _common(run, sc.gens)
    if err:
        return Check(False, f"{err}; host: {host}", {})
    removed = "vCPU removed: yes" in host
    for g in run.log.generations:
        n = len(parser.cpulist(g.boot.get("online"))) if g.boot else run.smp
        if n != run.smp and not (removed and n == run.smp - 1):
            return Check(False, f"generation {g.index} has CPUs {g.boot.get('online')} online, {run.smp} expected; host: {host}", {})
    if not run.log.generations[-1].done:
        return Check(False, f"last generation did not finish; last line: {run.log.last_line}", {})
    return Check(True, (f"0 hotplug operations after migrate_to_reboot_cpu() until {end}; "
                  f"{len(refused)} refused with -EBUSY; host: {host}"), {"refused": len(refused)})


def chosen_cpu(g, rcpu):
    """The CPU migrate_to_reboot_cpu() chose: rcpu if it was online then.

    CPU hotplug operations are serialized with migrate_to_reboot_cpu() by
    cpu_add_remove_lock, so the last operation on rcpu logged before the
    lab_mig event tells whether it was online.
    """
    online = rcpu in parser.cpulist(g.boot.get("online")) if g.boot else True
    for e in g.events:
        if e.name == "lab_mig":
            break
        if e.args.get("cpu") == str(rcpu):
            online = e.name == "lab_up_start"
    return rcpu if online else 0


def hw_id(g0, cpu, n):
    """Hardware id of logical CPU cpu of the first kernel.

    Where the guest reported every CPU's id (powerpc: "hwids=0,8,16,24"
    from cpuN/physical_id), that list. Otherwise CPU 0 is the boot CPU,
    the others follow in hardware id order. That is the identity on x86
    and arm64 here; riscv's OpenSBI picks a random boot hart (boot hart 3
    makes CPU 2 hart 1).
    """
    ids = (g0.boot or {}).get("hwids", "-")
    if ids != "-":
        return int(ids.split(",")[cpu])
    try:
        boot = int(g0.hwid)
    except (TypeError, ValueError):
        return cpu
    return boot if cpu == 0 else [h for h in range(n) if h != boot][cpu - 1]


# Where the kexec'd kernel is entered on the reboot CPU (kexec_entry in
# lab/arch/<arch>.conf).
REBOOT_CPU_ARCHES = tuple(a for a in archmod.available() if archmod.load(a).kexec_entry != "cpu0")


def check_reboot_cpu(run, sc):
    """The new kernel is entered on the CPU migrate_to_reboot_cpu() chose."""
    ok, evidence, _ = check_kexec(run, sc)
    if not ok:
        return Check(False, evidence)
    g0, g1 = run.log.generations[0], run.log.generations[1]
    rcpu = int(sc.params.get("rcpu", sc.params.get("expect_rcpu", 0)))
    cpu = chosen_cpu(g0, rcpu)
    want = hw_id(g0, cpu, run.smp)
    if g1.hwid is None:
        return Check(False, "the new kernel did not report its boot CPU")
    if g1.hwid != str(want):
        return Check(False, (f"migrate_to_reboot_cpu() chose CPU {cpu} (hw id {want}, reboot_cpu={rcpu}) "
                       f"but the new kernel was entered on hw id {g1.hwid}"))
    return Check(True, f"reboot_cpu={rcpu}, chosen CPU {cpu} (hw id {want}), new kernel entered on hw id {g1.hwid}")


def _ended_with(message):
    def check(run, sc):
        err = _common(run, 0)
        if err:
            return Check(False, err)
        for line in run.log.text.splitlines():
            if message in line:
                return Check(True, line.strip())
        return Check(False, f"no '{message}'; last line: {run.log.last_line}")
    check.__doc__ = f"The VM ends with '{message}', no splat."
    return check


def check_offline_then_kexec(run, sc):
    """Every CPU asked to go offline before the kexec went offline, then the kexec works."""
    g0 = run.log.generations[0] if run.log.generations else None
    for line in (g0.lab if g0 else []):
        if line.startswith("offline cpu") and not line.endswith(": ok"):
            return Check(False, line)
    return check_kexec(run, sc)


def check_hk_refused(run, sc):
    """The last housekeeping CPU is refused with EBUSY; no splat, the guest ends."""
    err = _common(run, 0)
    if err:
        return Check(False, err)
    g0 = run.log.generations[0]
    want = f"offline cpu{sc.params['offline']}: Device or resource busy"
    if want not in g0.lab:
        return Check(False, f"no '{want}'")
    if not g0.done:
        return Check(False, f"the guest did not finish; last line: {run.log.last_line}")
    return Check(True, want)


def check_sysfs(run, sc):
    """Every invalid write to /sys/kernel/reboot/cpu fails and changes nothing."""
    err = _common(run, 0)
    if err:
        return Check(False, err)
    writes = [l for l in run.log.generations[0].lab if l.startswith("sysfs write")]
    if len(writes) < 6:
        return Check(False, f"only {len(writes)} sysfs writes reported")
    for w in writes:
        before, _, after = w.rpartition(" value ")[2].partition("->")
        if "accepted" in w or before != after:
            return Check(False, f"invalid write not rejected: {w}")
    return Check(True, f"{len(writes)} invalid writes rejected, value unchanged; e.g. {writes[-1]}")


def check_bad_reboot_s(run, sc):
    """reboot=s<out of range> is ignored with a message, reboot_cpu stays 0."""
    ok, evidence, _ = check_kexec(run, sc)
    if not ok:
        return Check(False, evidence)
    msg = [l.strip() for l in run.log.generations[0].lines if "Ignoring the CPU number" in l]
    if not msg:
        return Check(False, "no 'Ignoring the CPU number in reboot= option' message")
    if run.log.generations[0].boot.get("reboot_cpu") != "0":
        return Check(False, f"reboot_cpu is {run.log.generations[0].boot.get('reboot_cpu')}, not 0")
    return Check(True, msg[0])


DCC_NOTICE = "HVC_DCC_SERIALIZE_SMP SUPPORT HAS BEEN ENABLED"
OFFLINING_REFUSED = "Can't kexec: CPUs cannot be taken offline"


def check_load_refused(run, sc):
    """A driver keeps CPUs from going offline for good (hvc_dcc with
    HVC_DCC_SERIALIZE_SMP): kexec must refuse to load an image, and say
    why, rather than go past the device shutdown and then stop in the
    teardown or take the CPUs down behind the driver's back."""
    log = run.log
    g0 = log.generations[0]
    probed = any(DCC_NOTICE in l for l in g0.lines)
    if log.splats:
        g, line = log.splats[0]
        if probed and g == 0 and "Failed to offline CPU" in line and \
                any("Starting new kernel" in l for l in g0.lines):
            # 7.3's teardown asks cpu_down_maps_locked(), which refuses
            # while CPU hotplug is disabled: BUG() after device shutdown.
            then = [l for _, l in log.splats[1:2]]
            return Check(False, f"kexec went ahead with CPU offlining held off by hvc_dcc: {line}"
                                + (f", then {then[0]}" if then else ""))
        return Check(False, f"splat in generation {g}: {line}")
    if run.timed_out:
        return Check(False, f"timeout after {run.secs:.0f}s; last line: {log.last_line}")
    if not probed:
        return Check(False, f"no '{DCC_NOTICE}': hvc_dcc did not probe, nothing holds the CPUs")
    booted = [g for g in log.generations if g.boot]
    if len(booted) > 1:
        downs = len([e for e in g0.events if e.name == "lab_down_start"])
        return Check(False, f"kexec went ahead with CPU offlining held off by hvc_dcc: {downs} CPU "
                            f"teardown(s) started "
                            f"in generation 0, generation {booted[-1].index} booted with "
                            f"CPUs {booted[-1].boot.get('online')} online")
    refused = [l.strip() for l in g0.lines if OFFLINING_REFUSED in l]
    if not refused:
        return Check(False, f"no '{OFFLINING_REFUSED}'; last line: {log.last_line}")
    load = [e for e in g0.errors if "load" in e]
    if not load:
        return Check(False, f"the guest reported no failed load; last line: {log.last_line}")
    return Check(True, f"{refused[0]} ({load[0]})")


_STOPPED = re.compile(r"Failed to offline CPU(\d+): (?:(\S+) failed with )?(-?\w+)$")
KEXEC_PANIC = "Kernel panic - not syncing: kexec: a CPU did not go offline"


def check_kexec_stopped(run, sc):
    """A CPU that does not go down stops the kexec, named, with a panic.

    The teardown prints one line naming the CPU, the hotplug state whose
    callback failed (if one did) and the error; kernel_kexec() then panics
    instead of jumping. Those two are the only splats allowed; no second
    kernel boots.
    """
    log = run.log
    other = [(g, l) for g, l in log.splats if not _STOPPED.search(l) and KEXEC_PANIC not in l]
    if other:
        return Check(False, f"splat in generation {other[0][0]}: {other[0][1]}")
    if run.timed_out:
        return Check(False, f"timeout after {run.secs:.0f}s; last line: {log.last_line}")
    lines = [l.strip() for l in log.text.splitlines() if _STOPPED.search(l.strip())]
    if len(lines) != 1:
        return Check(False, f"{len(lines)} 'Failed to offline CPU' lines, 1 expected; last line: {log.last_line}")
    m = _STOPPED.search(lines[0])
    want_cpu = sc.params.get("stop_cpu", sc.params.get("fail_cpu"))
    want_state = sc.params.get("stop_state", sc.params.get("fail_state"))
    if m.group(1) != want_cpu or (m.group(2) or "") != (want_state or ""):
        return Check(False, f"wrong CPU or state named (CPU{want_cpu} {want_state or 'no state'} expected): {lines[0]}")
    if not any(KEXEC_PANIC in l for l in log.text.splitlines()):
        return Check(False, f"no '{KEXEC_PANIC}'; last line: {log.last_line}")
    if len([g for g in log.generations if g.boot]) != 1:
        return Check(False, "a second kernel booted with a CPU that never went offline")
    return Check(True, lines[0])


def check_kexec_stopped_in(state):
    """check_kexec_stopped(), the failed hotplug state named: @state."""
    def check(run, sc):
        return check_kexec_stopped(run, replace(sc, params={**sc.params, "stop_state": state}))
    return check


def teardown_scenarios(smp):
    """smp_shutdown_nonboot_cpus() meets a CPU that does not go offline.

    Only the architectures whose kexec tears CPUs down through CPU hotplug
    run them; on the others nothing in kexec asks the CPU to go offline
    (x86_64 stops CPUs with an IPI; ppc64le wakes offline CPUs instead and
    parks every CPU in kexec_smp_wait()).
    """
    last = smp - 1
    hp = archmod.names_with("kexec_teardown", "hotplug")
    refused = "Failed to offline CPU"
    # v6 (7.3, and its 6.12 and 6.1 backports) leaves these refusals in
    # place: the kexec stops with the CPU named and a panic instead of
    # BUG() (check_kexec_stopped). 6.12 has no housekeeping check in
    # _cpu_down(), which v6's teardown uses; the 6.1 backport does that
    # check in the teardown itself. isolcpus alone makes the deadline check
    # refuse only where a deadline server is accounted (7.3, 6.12).
    v6 = {"7.3": check_kexec_stopped, "6.12": check_kexec_stopped}
    return [
        Scenario("teardown-isolcpus", f"kexec with isolcpus=2-{last}: the last isolated CPU "
                 "carries deadline bandwidth accounting",
                 {"action": "kexec", "stop_cpu": str(last), "stop_state": "sched:active"},
                 check_kexec, append=f"isolcpus=2-{last}", check_by_base=v6,
                 fail_signature=refused, expect={"base": "fail", "patched": "pass"}, arches=hp,
                 # 6.1 has no deadline server: no bandwidth is accounted to
                 # the default root domain, so neither 6.1 kernel is refused
                 # and both must kexec (check_kexec).
                 expect_by_base={"6.1": {"base": "pass"}}),
        Scenario("teardown-housekeeping", f"kexec from isolated CPU 2 with isolcpus=1-{last}: "
                 "CPU 0 is the last housekeeping CPU",
                 {"action": "kexec", "rcpu": "2", "stop_cpu": "0"}, check_reboot_cpu,
                 append=f"isolcpus=1-{last}",
                 fail_signature=refused, expect={"base": "fail", "patched": "pass"}, arches=hp,
                 # On 7.3 the last housekeeping CPU itself is taken down and
                 # the kernel BUG()s in select_fallback_rq(), with and
                 # without the series: fixes/cpu-hotplug-last-housekeeping/.
                 bases=("6.12", "6.1"),
                 # 6.12: the deadline check refuses CPU 0, the last CPU of
                 # the default root domain (measured: "Failed to offline
                 # CPU0: sched:active failed with -16"). The 6.1 backport
                 # keeps CPU 0 online as 6.1's cpu_down_maps_locked() does
                 # (without that, 6.1 oopsed in
                 # partition_sched_domains_locked()). The kexec stops on both.
                 check_by_base={"6.12": check_kexec_stopped_in("sched:active"),
                                "6.1": check_kexec_stopped}),
        # OpenSBI 1.1 reserves 0x80000000-0x8007ffff without no-map; the
        # other scenarios boot with a device tree that hides it.
        Scenario("kexec-placement", "kexec_file_load() with the firmware's reserved memory "
                 "visible as RAM (QEMU's own device tree)",
                 {"action": "kexec"}, check_kexec, dtb_fix=False, fail_signature="Bye",
                 expect={"base": "fail", "patched": "pass"}, arches=("riscv64",),
                 # Mainline keeps memblock with KEXEC: only the 6.12 and
                 # 6.1 backports carry the fix (their patch 14).
                 bases=("6.12", "6.1"),
                 # Measured: the 6.1 base kernel's kexec worked without the
                 # device tree fix; why it placed the kernel elsewhere was
                 # not looked into.
                 expect_by_base={"6.1": {"base": "pass"}}),
        Scenario("teardown-fail", "kexec while CPU 2's sched:active teardown is made to fail "
                 "(cpu2/hotplug/fail)",
                 {"action": "kexec", "fail_cpu": "2", "fail_state": "sched:active"},
                 check_kexec_stopped, fail_signature=refused,
                 expect={"base": "fail", "patched": "pass"}, arches=hp),
    ]


def all_scenarios(iterations=3, gens=3, smp=4):
    """The storms go through the CPU online files, the interface users
    have. Only the window scenario uses the CPU_HOTPLUG_STATE_CONTROL
    debug interface (hotplug/target), which refuses without sleeping: the
    window it aims at lasts milliseconds. Under a storm that interface can
    hit its own WARN_ON(st->target != target) in target_store() on the
    base and the patched kernel alike, which the series does not touch.
    """
    last = smp - 1
    return [
        Scenario("kexec-storm", "kexec chain under a hotplug storm on every CPU, reboot CPU 1 included",
                 {"action": "kexec", "storm": "all", "rcpu": "1", "storm_online_file": "1"}, check_kexec,
                 # x86: a kexec'd kernel that left the real BSP halted
                 # sometimes ends in a triple fault early in its boot, base
                 # and patched alike; such a run fails, and its evidence
                 # says it was that reset (hooks.KNOWN).
                 gens=gens, iterations=iterations, expect={"base": "any", "patched": "pass"}),
        Scenario("window", "hotplug operations between migrate_to_reboot_cpu() and the teardown "
                 "(storm on CPUs 2-N plus an RT prober on reboot CPU 1)",
                 {"action": "kexec", "storm": f"2-{last}", "rcpu": "1", "prober": "1"}, check_window,
                 iterations=iterations, max_iterations=60, fail_signature="inside the window",
                 require={"refused": (1, "no hotplug attempt reached the window: the runs prove nothing")},
                 expect={"base": "fail", "patched": "pass"},
                 # On arm64 the window ends where smp_shutdown_nonboot_cpus()
                 # takes cpu_add_remove_lock, a few instructions after it
                 # opens: measured, rarely hit, so not counted there.
                 # ppc64le: the window ends at machine_kexec() as on x86
                 # (wake_offline_cpus() runs after it); first measured
                 # with this lab, so not counted on base yet.
                 expect_by_arch={"arm64": {"base": "any"}, "ppc64le": {"base": "any"}},
                 # riscv64: the lab's entry kprobes ("p:" events) print
                 # nothing there, only return probes do, so an operation
                 # inside the window could not be seen.
                 # arm: not run. In 3 base and 3 patched runs no attempt
                 # landed between migrate_to_reboot_cpu() and the teardown;
                 # every refusal counted came after it, where the base
                 # kernel refuses too (cpu_hotplug_disabled++ at the end of
                 # smp_shutdown_nonboot_cpus()), so a pass would prove nothing.
                 arches=("x86_64", "arm64", "ppc64le")),
        Scenario("smt-window", "SMT control toggled off/on during kexec from an RT task on reboot "
                 "CPU 0 (2 cores x 2 threads)",
                 {"action": "kexec", "smt_storm": "0"}, check_window,
                 iterations=iterations, max_iterations=60, fail_signature="inside the window",
                 require={"refused": (1, "no SMT control write reached the window: the runs prove nothing")},
                 # ppc64le: not tried yet (pseries SMT threads need -smp threads=).
                 expect={"base": "fail", "patched": "pass"}, arches=("x86_64",),
                 topology="sockets=1,cores=2,threads=2",
                 # 6.1 under TCG: the SMT control storm starts no hotplug
                 # operation at all (no lab_up_start/lab_down_start event
                 # in its runs), so the scenario could show nothing there.
                 bases=("7.3", "6.12")),
        # The trigger comes from outside: QEMU asks the guest to eject a
        # vCPU (ACPI CPU hotplug), once, at a random time around the
        # kexec, and the guest kernel takes it offline from its ACPI
        # hotplug work; no hotplug from the guest's user space. Opt-in:
        # when the guest offlined the CPU just before the kexec (before
        # its _EJ0), the kexec'd kernel could not bring that CPU up
        # ("CPU3 failed to report alive state", base and patched, QEMU
        # 10.0.2; QEMU 7.2 crashed), which is not understood yet
        # (docs/investigations.md); the patched cell fails on it.
        Scenario("vcpu-eject", "the hypervisor unplugs the last vCPU (QMP device_del, ACPI eject) "
                 "during kexec, no CPU hotplug from the guest's user space",
                 {"action": "kexec", "wait": "300"}, check_eject, eject=True, opt_in=True,
                 iterations=iterations, fail_signature="inside the window",
                 expect={"base": "any", "patched": "pass"}, arches=("x86_64",), bases=("7.3", "6.12")),
        Scenario("reboot-cpu-sysfs", f"/sys/kernel/reboot/cpu={last}, storm on CPU {last}",
                 {"action": "kexec", "storm": str(last), "rcpu": str(last), "storm_online_file": "1"},
                 check_reboot_cpu,
                 iterations=iterations, expect={"base": "any", "patched": "pass"}, arches=REBOOT_CPU_ARCHES),
        Scenario("reboot-cpu-cmdline", f"reboot=s{last}, storm on CPU {last}",
                 {"action": "kexec", "storm": str(last), "expect_rcpu": str(last),
                  "storm_online_file": "1"}, check_reboot_cpu,
                 append=f"reboot=s{last}", iterations=iterations,
                 expect={"base": "any", "patched": "pass"}, arches=REBOOT_CPU_ARCHES),
        Scenario("offline-before-kexec", "CPUs 2-N offline before kexec; the new kernel brings all up",
                 {"action": "kexec", "offline": f"2-{last}"}, check_kexec),
        Scenario("rcpu-offline", "reboot CPU offline at reboot time: falls back to CPU 0",
                 {"action": "kexec", "rcpu": "2", "offline": "2"}, check_reboot_cpu),
        Scenario("reboot-storm", "reboot -f under a hotplug storm",
                 {"action": "reboot", "storm": "all", "storm_online_file": "1"}, _ended_with(REBOOTED)),
        Scenario("poweroff-storm", "poweroff -f under a hotplug storm",
                 {"action": "poweroff", "storm": "all", "storm_online_file": "1"},
                 _ended_with(POWERED_OFF)),
        Scenario("bad-sysfs", "invalid writes to /sys/kernel/reboot/cpu",
                 {"action": "sysfs"}, check_sysfs),
        Scenario("bad-reboot-s", "reboot=s<out of range> on the command line",
                 {"action": "kexec"}, check_bad_reboot_s, append="reboot=s99"),
        # hvc_dcc with HVC_DCC_SERIALIZE_SMP disables CPU hotplug (base) or
        # CPU offlining (patched) for good, as Armada 38x does where CPU
        # hotplug is broken. QEMU 10's DCC registers read as zero and
        # ignore writes, so the driver's probe succeeds and its hold is
        # real: base loads the image and kexecs (7.3: its teardown is
        # refused, -EBUSY, and BUG()s), patched refuses to load it.
        Scenario("dcc-serialize", "hvc_dcc with HVC_DCC_SERIALIZE_SMP keeps CPUs from going offline; "
                 "kexec must refuse to load rather than take them down",
                 {"action": "kexec"}, check_load_refused, config="hvc-dcc-serialize",
                 fail_signature="kexec went ahead", expect={"base": "fail", "patched": "pass"},
                 arches=("arm64",),
                 qemu_needs=("backports", "QEMU 7.2 has no DBGDTRTX_EL0: hvc_dcc's probe faults "
                                          "(Undefined instruction)")),
        # arm64: kexec -l needs /proc/kcore and the FDT in sysfs, which the
        # lab kernel lacks ("setup_2nd_dtb failed"); kexec -s works there.
        # arm: every kexec there goes through kexec -l (no kexec_file_load),
        # this one names the loader itself.
        Scenario("kexec-tools-l", "Debian kexec-tools: kexec -l; kexec -e",
                 {"action": "kexec", "loader": "tools"}, check_kexec, needs_tools=True,
                 arches=("x86_64", "arm", "ppc64le")),
        # riscv64: Debian has no riscv64 packages, so no kexec-tools.
        # arm: no kexec_file_load() in the kernel.
        Scenario("kexec-tools-s", "Debian kexec-tools: kexec -s (kexec_file_load); kexec -e",
                 {"action": "kexec", "loader": "tools-s"}, check_kexec, needs_tools=True,
                 arches=("x86_64", "arm64", "ppc64le")),
        # arm, ppc64le: not run; vmtest_hotplug.sh boots x86_64 and arm64 only.
        # 7.3: fixes/selftests-kexec-hotplug/, a chain of 4 kexecs with a
        # CPU hotplug writer that does not pause; base must fail for an
        # operation inside the window. 6.12 and 6.1: the backports' v5
        # test, which passes on base too (one run, 'any').
        Scenario("selftest", "the kselftest kexec/vmtest_hotplug.sh",
                 {}, check_selftest, selftest=True, expect={"base": "fail", "patched": "pass"},
                 iterations=iterations, max_iterations=10,
                 fail_signature="operation inside the window",
                 expect_by_base={"6.12": {"base": "any"}, "6.1": {"base": "any"}},
                 arches=("x86_64", "arm64"), bases=("7.3", "6.12", "6.1")),
        # fixes/powerpc-optprobes/: the optprobe detour buffer restores r13,
        # the paca pointer, after the task may have been preempted and
        # migrated. The storm migrates the tasks that hit the lab's probes.
        # The base kernel does not show it in every run (6 runs on an idle
        # host showed nothing), so its cell is 'any' and counts all its
        # runs, as many as the fixed kernel's. The last
        # kprobes-optimization= wins: this undoes lab/arch/ppc64le.conf's.
        Scenario("optprobe-storm", "20 s hotplug storm on every CPU but 0, the lab's kprobes optimized",
                 {"action": "poweroff", "storm": f"1-{last}", "storm_online_file": "1", "lead": "20000"},
                 _ended_with(POWERED_OFF), append="sysctl.debug.kprobes-optimization=1",
                 iterations=iterations, expect={"base": "any", "patched": "pass"}, arches=("ppc64le",),
                 fix="powerpc-optprobes"),
        Scenario("dl-isolcpus-offline", f"isolcpus=2-{last}: CPUs 2-{last} taken offline, then kexec; "
                 "the last isolated CPU must not be refused for a server of a CPU already offline",
                 {"action": "kexec", "offline": f"2-{last}"}, check_offline_then_kexec,
                 append=f"isolcpus=2-{last}", fail_signature="Device or resource busy",
                 expect={"base": "fail", "patched": "pass"}, bases=("7.3",),
                 fix="sched-deadline-nocpusets"),
        Scenario("hk-last-offline", f"isolcpus=1-{last}: CPU 0, the last housekeeping CPU, taken "
                 "offline through sysfs",
                 {"action": "sysfs", "offline": "0"}, check_hk_refused,
                 append=f"isolcpus=1-{last}", fail_signature="kernel BUG at",
                 expect={"base": "fail", "patched": "pass"}, bases=("7.3",), arches=("arm64", "riscv64"),
                 fix="cpu-hotplug-last-housekeeping"),
        # x86: a kernel kexec'd on CPU 1 does not register the real BSP,
        # which the old kernel left in stop_this_cpu()'s HLT loop, but its
        # shorthand IPIs reach it; under QEMU TCG a call function IPI can
        # end that HLT, and the VM resets (docs/investigations.md). The
        # base fails in every run on its "IPI shorthand broadcast:
        # enabled", and in some on the reset itself; the guest's TLB
        # shootdowns send such IPIs to every other CPU, again and again.
        # no_ipi_broadcast=0 undoes lab/arch/x86_64.conf's =1 (the last
        # one wins); the fix turns them off whatever it says.
        Scenario("bsp-broadcast", "kexec from CPU 1, then 20 s of TLB shootdowns (call function IPIs "
                 "to every other CPU) in the new kernel, whose real BSP is left halted",
                 {"action": "kexec", "rcpu": "1", "ipi_storm": "20000"}, check_bsp_broadcast,
                 append="no_ipi_broadcast=0",
                 iterations=iterations, max_iterations=10, fail_signature="real BSP",
                 expect={"base": "fail", "patched": "pass"}, bases=("7.3",), arches=("x86_64",),
                 fix="x86-real-bsp-ipi-shorthand"),
    ] + teardown_scenarios(smp)


def check_selftest(ktap, sc):
    """KTAP of vmtest_hotplug.sh: every test ok (SKIPs allowed), plan complete."""
    plan = re.search(r"^1\.\.(\d+)", ktap, re.M)
    oks = re.findall(r"^ok \d+ .*$", ktap, re.M)
    bad = re.findall(r"^not ok \d+ .*$", ktap, re.M)
    bail = re.findall(r"^Bail out!.*$", ktap, re.M)
    totals = re.search(r"^# Totals: .*$", ktap, re.M)
    if bail or not plan:
        return Check(False, (bail[0] if bail else "no KTAP plan in the selftest output"))
    if plan.group(1) == "0":
        return Check(False, "selftest skipped: " + ktap.strip().splitlines()[-1])
    if bad:
        lines = ktap.splitlines()
        total = f" ({totals.group(0)[2:]})" if totals else ""
        # The bug's own signature: the test names the first operation it
        # found inside the window on the line before its "not ok".
        for b in bad:
            i = lines.index(b)
            if "no CPU hotplug operation after" in b and i and re.match(r"# \[.*_start: \(", lines[i - 1]):
                return Check(False, f"operation inside the window: {lines[i - 1][2:].strip()} [{b}]{total}")
        # Any other failure: the first test that failed and what the test
        # printed about it (for a broken chain, the console's last line).
        i = lines.index(bad[0])
        j = i
        while j and lines[j - 1].startswith("# ") and not lines[j - 1].startswith("# KEXEC_HOTPLUG: gen="):
            j -= 1
        why = "; ".join(x[2:].strip() for x in lines[j:i])
        return Check(False, f"{bad[0]}{': ' + why if why else ''}{total}")
    if len(oks) != int(plan.group(1)):
        return Check(False, f"{len(oks)} of {plan.group(1)} tests reported")
    return Check(True, totals.group(0)[2:] if totals else f"{len(oks)} ok")


def select(names, fix=None, **kw):
    """The named scenarios, or by default every one about the series; with
    fix, by default the ones that show that fix."""
    from .util import ConfigError
    scs = all_scenarios(**kw)
    if fix and not any(s.fix == fix for s in scs):
        raise ConfigError(f"no scenario shows fix '{fix}'; known: "
                          f"{', '.join(sorted({s.fix for s in scs if s.fix}))}")
    if not names:
        return [s for s in scs if s.fix == (fix or "") and not s.opt_in]
    by = {s.name: s for s in scs}
    unknown = [n for n in names if n not in by]
    if unknown:
        raise ConfigError(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(by)}")
    # The expectations of a scenario hold for one 'patched' kernel only.
    alien = [n for n in names if by[n].fix != (fix or "")]
    if alien:
        what = f"fixes/{by[alien[0]].fix}/ (run with --fix {by[alien[0]].fix})" if by[alien[0]].fix \
            else "the series (run without --fix)"
        raise ConfigError(f"scenario {alien[0]} is about {what}")
    return [by[n] for n in names]


def guest_params(sc, gens=None):
    p = dict(sc.params)
    for k in ("expect_rcpu", "stop_cpu", "stop_state"):
        p.pop(k, None)
    p["gens"] = str(sc.gens if gens is None else gens)
    return " ".join(f"lab.{k}={v}" for k, v in p.items())
