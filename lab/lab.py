#!/usr/bin/env python3
"""The lab's command line: build, boot, compare.

  lab.py run   [--arch x86_64,arm64] [--base 7.3] [--scenarios a,b] [--qemu backports] ...
  lab.py deps  [--qemu backports]          (what make deps runs; make deps needs no Python)
  lab.py static [--base 7.3] [--fix NAME | --rfc] [--arches a,b]
  lab.py tree|export [--base 7.3]
  lab.py apply KERNEL ; lab.py validate KERNEL [--kconfig .config] [--arch x86_64] ...
  lab.py build [--arch x86_64] [--base 7.3]
  lab.py boot  [--arch x86_64] [--base 7.3] [--kernel patched] [--scenario NAME | --action kexec] ...
  lab.py report [--results build/report/results.json] [--name NAME] [--readme README.md]
  lab.py list  [scenarios|arches]
  lab.py parse LOG [--scenario NAME]
  lab.py bench [--arch ...] [--smp 2,4,8] [--runs 5]
  lab.py torture [--arch arm64] [--smp 8] [--kexecs 200] [--gens 25] [--kernel rfc,patched] [--icount arch|0|off]
  lab.py test  (the lab's own unit tests, on recorded logs)
"""

import argparse
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from labtool import arch as archmod  # noqa: E402
from labtool import kernel, qemu, report, runner, scenarios  # noqa: E402
from labtool.util import BUILD, ROOT, LabError, fmt_secs, log  # noqa: E402


RFC_BASE = next(iter(kernel.RFC_DIRS))


def csv(s):
    return [x for x in (s or "").replace(" ", ",").split(",") if x]


def pairs(a):
    """(base, Arch, scenario names) to run.

    --runs "7.3:x86_64 6.1:arm64:teardown-fail+bad-sysfs": BASE:ARCH with
    an optional list of scenarios for that pair (default --scenarios);
    without --runs, every base of --base with every arch of --arch.
    """
    if a.runs:
        out = []
        for r in csv(a.runs):
            parts = r.split(":")
            if len(parts) not in (2, 3):
                raise LabError(f"--runs wants BASE:ARCH[:SCENARIO+...], got '{r}'")
            out.append((parts[0], parts[1], parts[2].split("+") if len(parts) == 3 else None))
    else:
        out = [(b, n, None) for b in csv(a.base) for n in csv(a.arch)]
    for b, _, _ in out:
        if b not in kernel.BASES:
            raise LabError(f"unknown base '{b}'; supported: {', '.join(kernel.BASES)}")
    return [(b, archmod.load(n), names) for b, n, names in out]


def cmd_run(a):
    todo = pairs(a)
    kw = dict(iterations=a.iterations, gens=a.gens, smp=a.smp)
    if a.fix and a.tree:
        raise LabError("--fix compares the lab's own base tree with and without the fix; not with --tree")
    default = scenarios.select(csv(a.scenarios), fix=a.fix, **kw)
    start = time.monotonic()
    results = []
    for b, ar, names in todo:
        opts = argparse.Namespace(base=b, label=a.label or b, smp=a.smp, cmdline=a.cmdline,
                                  tree=a.tree, kconfig=a.kconfig, fix=a.fix, rates=a.rates)
        if a.fix:
            log(f"{ar.name} {b}: 'patched' below is {b} + fixes/{a.fix}/, not the series")
        selected = scenarios.select(names, fix=a.fix, **kw) if names else default
        results += runner.run_arch(ar, opts, selected)
    secs = time.monotonic() - start
    run = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "command": a.command or "lab.py " + " ".join(sys.argv[1:]),
           "host_cpus": os.cpu_count(), "wall": fmt_secs(secs), "qemu": qemu.chosen()}
    runner.save(results, os.path.join(BUILD, "report", "results.json"), run)
    wall = f"wall time of this run: {fmt_secs(secs)}"
    report.write(results, wall)
    if a.fix:
        print(f"('patched' in this table: the base plus fixes/{a.fix}/, not the series)")
    print(report.text_table(results))
    print(wall)
    print(f"report: {os.path.join(BUILD, 'report', 'report.md')}")
    for line in report.mismatches(results):
        print(line)
    print(report.closing_line(results))
    return 1 if report.counts(results)[1] else 0


def script(*args):
    """One of scripts/, from the project's root; its exit code."""
    import subprocess
    return subprocess.call(list(args), cwd=ROOT)


def cmd_deps(a):
    rc = script("sh", "scripts/install-deps.sh")
    if rc == 0 and a.qemu == "backports":
        rc = script("sh", "scripts/fetch-qemu.sh")
    return rc


def cmd_static(a):
    """The static checks of a series (scripts/check_series.py)."""
    return script(sys.executable, "scripts/check_series.py", "--base", a.base,
                  *(["--fix", a.fix] if a.fix else []), *(["--rfc"] if a.rfc else []),
                  *(["--arches", a.arches] if a.arches else []))


def cmd_tree(a):
    """build/tree/BASE: the base with its series as commits; export: the series back from it."""
    if a.base not in kernel.BASES:
        raise LabError(f"unknown base '{a.base}'; supported: {', '.join(kernel.BASES)}")
    return script("sh", "scripts/tree.sh", a.cmd, a.base, os.path.relpath(kernel.series_dir(a.base), ROOT),
                  os.path.relpath(kernel.tree_dir(a.base), ROOT))


def cmd_apply(a):
    return script("sh", "scripts/tree.sh", "apply", a.kernel)


def cmd_validate(a):
    """A copy of the user's tree, built without and with the series for its
    version, through the lab's scenarios."""
    import subprocess
    if a.kconfig and not os.path.isfile(a.kconfig):
        raise LabError(f"--kconfig {a.kconfig}: no such file")
    p = subprocess.run(["sh", "scripts/tree.sh", "version", a.kernel], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if p.returncode:
        return p.returncode
    base = p.stdout.strip()
    tree = os.path.join(BUILD, "validate", "tree")
    rc = script("sh", "scripts/tree.sh", "import", a.kernel, tree)
    if rc:
        return rc
    return cmd_run(argparse.Namespace(runs="", base=base, arch=a.arch, tree=tree, kconfig=a.kconfig,
                                      label=f"validate-{base}", scenarios=a.scenarios, cmdline=a.cmdline,
                                      smp=a.smp, iterations=a.iterations, gens=a.gens, rates=False, fix=None,
                                      command=a.command))


def _opts(base):
    return argparse.Namespace(base=base, label=base, tree=None, kconfig=None, fix=None)


def cmd_build(a):
    """Build (or reuse) the base and patched kernels and their initramfs."""
    for b, ar, _ in pairs(a):
        runner.check_bootable(ar)
        for k, img in runner.prepare(ar, _opts(b)).items():
            print(f"{ar.name} {b} {k}: {img['image']}, initramfs {img['initrd']}")
    return 0


def cmd_boot(a):
    """One guest by hand: a built kernel (made if needed) with the lab's
    init, doing --action, or what --scenario's guest does; the console log
    is kept and read as cmd_parse reads it."""
    ar = archmod.load(a.arch)
    if a.base not in kernel.BASES:
        raise LabError(f"unknown base '{a.base}'; supported: {', '.join(kernel.BASES)}")
    runner.check_bootable(ar)
    kw, extra = {}, ""
    if a.scenario:
        sc = scenarios.select([a.scenario], gens=a.gens, smp=a.smp)[0]
        params, extra = scenarios.guest_params(sc), sc.append
        kw = {"topology": sc.topology, "dtb_fix": sc.dtb_fix}
    else:
        params = f"lab.action={a.action} lab.gens={a.gens}"
    img = runner.prepare(ar, _opts(a.base))[a.kernel]
    logfile = os.path.join(BUILD, "boot", f"{ar.name}-{a.base}-{a.kernel}.log")
    os.makedirs(os.path.dirname(logfile), exist_ok=True)
    append = qemu.cmdline(ar, " ".join(x for x in (params, extra, a.cmdline) if x), a.base)
    log(f"booting {ar.name} {a.base} {a.kernel} with {a.smp} vCPUs: {append}")
    run = runner.boot(ar, img, a.smp, append, logfile, a.timeout, **kw)
    print(f"console log: {logfile} ({fmt_secs(run.secs)}{', timed out' if run.timed_out else ''})")
    return show(run.log, a.scenario and sc, logfile, a.base, a.smp, run.timed_out, run.secs)


def show(lg, sc, logfile, base, smp, timed_out=False, secs=0):
    """Print what the lab sees in a parsed log, and sc's verdict on it."""
    for g in lg.generations:
        w = g.window()
        print(f"generation {g.index}: {len(g.lines)} lines, {len(g.events)} lab events, "
              + (f"{len(w[0])} hotplug operation(s) in the window (until {w[2]})" if w
                 else "no reboot path traced"))
    for _, line in lg.splats:
        print(f"splat: {line.strip()}")
    if sc:
        ok, evidence, _ = sc.check_for(base)(scenarios.Run(lg, timed_out, secs, logfile, smp), sc)
        print(f"{sc.name} on this log: {'pass' if ok else 'fail'}: {evidence}")
        return 0 if ok else 1
    return 1 if lg.splats or timed_out else 0


def cmd_report(a):
    """docs/results/NAME.md from a run's results.json, and the README's
    headline table from the same run."""
    run, results = runner.load(a.results)
    if not results:
        raise LabError(f"{a.results}: no results in it")
    title = a.title or f"Lab results: {a.name}"
    os.makedirs(a.docs, exist_ok=True)
    out = os.path.join(a.docs, f"{a.name}.md")
    with open(out, "w") as f:
        f.write(report.page(run, results, title))
    print(f"report: wrote {out}")
    if a.readme:
        link = os.path.relpath(out, os.path.dirname(os.path.abspath(a.readme)))
        with open(a.readme) as f:
            text = f.read()
        new = report.replace_between(text, report.headline(run, results, link), a.readme)
        with open(a.readme, "w") as f:
            f.write(new)
        print(f"report: the headline table in {a.readme}")
    print(report.closing_line(results))
    return 0


def cmd_list(a):
    """The scenarios (with what they check) and the architectures."""
    if a.what in ("scenarios", "all"):
        for sc in scenarios.all_scenarios():
            where = []
            if sc.arches:
                where.append("arch " + ",".join(sc.arches))
            if sc.bases:
                where.append("base " + ",".join(sc.bases))
            if sc.fix:
                where.append(f"--fix {sc.fix}")
            if sc.opt_in:
                where.append("only when named")
            exp = f"base {sc.expect['base']}, patched {sc.expect['patched']}"
            print(f"{sc.name:24} {exp}{'; ' + '; '.join(where) if where else ''}")
            print(f"{'':24} {sc.doc.strip().splitlines()[0] if sc.doc.strip() else ''}")
    if a.what in ("arches", "all"):
        for n in archmod.available():
            ar = archmod.load(n)
            print(f"{n:12} {ar.qemu} {' '.join(ar.qemu_args)}"
                  f"{'  (not booted: ' + ar.not_booted + ')' if ar.not_booted else ''}")
    return 0


def cmd_parse(a):
    """What the lab sees in a saved console log, and a scenario's verdict on it."""
    from labtool import parser
    with open(a.log, errors="replace") as f:
        text = f.read()
    return show(parser.parse(text), a.scenario and scenarios.select([a.scenario])[0], a.log, a.base, a.smp)


def cmd_bench(a):
    from labtool import bench
    arches = [archmod.load(n) for n in csv(a.arch)]
    return bench.main(arches, a.base, [int(x) for x in csv(a.smp)], a.runs)


def cmd_torture(a):
    from labtool import torture
    rc = 0
    for n in csv(a.arch):
        arch = archmod.load(n)
        # "arch": what the arch's .conf says (torture_icount), else shift 0.
        icount = (arch.torture_icount or "0") if a.icount == "arch" else a.icount
        rc |= torture.main(arch, a.base, a.smp, a.kexecs, a.gens, a.minutes, tuple(csv(a.kernel)), a.cmdline,
                           None if icount == "off" else int(icount))
    return rc


def cmd_test(a):
    """The unit tests, in a child whose LAB_BUILD is a temporary directory:
    no test can write into the real build/."""
    import subprocess
    import tempfile
    if os.environ.get("LAB_UNIT_TEST") != "1":
        with tempfile.TemporaryDirectory(prefix="lab-test-") as d:
            env = dict(os.environ, LAB_UNIT_TEST="1", LAB_BUILD=os.path.join(d, "build"))
            return subprocess.call([sys.executable, os.path.abspath(__file__), "test"], env=env)
    suite = unittest.defaultTestLoader.discover(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "tests"))
    res = unittest.TextTestRunner(verbosity=1).run(suite)
    n = res.testsRun
    bad = len(res.failures) + len(res.errors)
    print(f"lab unit tests: {n - bad} passed, {bad} failed")
    return 0 if res.wasSuccessful() and n else 1


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="build base and patched kernels, run the scenarios")
    r.add_argument("--arch", default="x86_64", help="architectures, comma-separated (lab.py list arches)")
    r.add_argument("--base", default=kernel.SERIES_BASE, help=f"bases, comma-separated: {', '.join(kernel.BASES)}")
    r.add_argument("--runs", default="", help='BASE:ARCH[:SCENARIO+...], e.g. "7.3:x86_64 '
                   '6.1:arm64:teardown-fail" (instead of --base x --arch)')
    r.add_argument("--scenarios", default="", help="scenarios, comma-separated (default: every one "
                   "about the series; lab.py list scenarios)")
    r.add_argument("--cmdline", default="", help="extra kernel parameters for every guest")
    r.add_argument("--smp", type=int, default=4, help="vCPUs per guest (1-16)")
    r.add_argument("--iterations", type=int, default=3, help="runs of the racy scenarios")
    r.add_argument("--gens", type=int, default=3, help="kexecs in a chain")
    r.add_argument("--rates", action="store_true", help="run every scenario exactly --iterations "
                   "times on each kernel, on after an expected failure too: failure rates")
    r.add_argument("--tree", help="a prepared user tree with 'base' and 'series' (make validate)")
    r.add_argument("--kconfig", help="the user's .config to start from (make validate)")
    r.add_argument("--label", help="name for the base in the report (make validate)")
    r.add_argument("--fix", help="a fix in fixes/ the lab found outside the series: 'patched' is "
                                 "the base plus that fix, and the scenarios are the ones that show it")
    r.add_argument("--command", help="how the run was started, for the report (make passes its target)")
    r.set_defaults(func=cmd_run)
    de = sub.add_parser("deps", help="install what is missing (scripts/install-deps.sh; --qemu backports: "
                                     "also QEMU 10, scripts/fetch-qemu.sh); make deps runs the same scripts")
    de.set_defaults(func=cmd_deps)
    st = sub.add_parser("static", help="the static checks of a series: checkpatch, git am, kernel-doc, "
                                       "rst, shellcheck, every patch compiled (scripts/check_series.py)")
    st.add_argument("--base", default=kernel.SERIES_BASE, help="the base whose series to check")
    st.add_argument("--fix", help="check fixes/FIX instead")
    st.add_argument("--rfc", action="store_true", help="check the RFC instead")
    st.add_argument("--arches", default="", help="compile for these arches only, comma-separated")
    st.set_defaults(func=cmd_static)
    for name, what in (("tree", "build/tree/BASE: the base with its series as commits on branch 'series'"),
                       ("export", "write the series of BASE back from build/tree/BASE")):
        tr = sub.add_parser(name, help=what)
        tr.add_argument("--base", default=kernel.SERIES_BASE, help="the base")
        tr.set_defaults(func=cmd_tree)
    ap = sub.add_parser("apply", help="apply the series for a tree's version to it, all or nothing")
    ap.add_argument("kernel", help="a Linux source tree")
    ap.set_defaults(func=cmd_apply)
    va = sub.add_parser("validate", help="run the lab on a copy of a tree, without and with the series")
    va.add_argument("kernel", help="a Linux source tree (7.3, 6.12 or 6.1)")
    va.add_argument("--kconfig", help="its .config to start from")
    va.add_argument("--arch", default="x86_64", help="architectures, comma-separated")
    va.add_argument("--scenarios", default="", help="scenarios, comma-separated (default: every one)")
    va.add_argument("--cmdline", default="", help="extra kernel parameters for every guest")
    va.add_argument("--smp", type=int, default=4, help="vCPUs per guest (1-16)")
    va.add_argument("--iterations", type=int, default=3, help="runs of the racy scenarios")
    va.add_argument("--gens", type=int, default=3, help="kexecs in a chain")
    va.add_argument("--command", help="how the run was started, for the report")
    va.set_defaults(func=cmd_validate)
    bu = sub.add_parser("build", help="build (or reuse) the base and patched kernels and their initramfs")
    bu.add_argument("--arch", default="x86_64", help="architectures, comma-separated")
    bu.add_argument("--base", default=kernel.SERIES_BASE, help=f"bases, comma-separated: {', '.join(kernel.BASES)}")
    bu.set_defaults(func=cmd_build, runs="")
    bo = sub.add_parser("boot", help="boot one kernel by hand with the lab's guest; keeps and reads its "
                                     "console log (build/boot/)")
    bo.add_argument("--arch", default="x86_64", help="the architecture")
    bo.add_argument("--base", default=kernel.SERIES_BASE, help="the base")
    bo.add_argument("--kernel", default="patched", choices=kernel.KERNELS, help="which kernel")
    bo.add_argument("--scenario", help="do what this scenario's guest does, and check it")
    bo.add_argument("--action", default="kexec", help="without --scenario: the guest's action "
                    "(kexec, reboot, poweroff, ...)")
    bo.add_argument("--gens", type=int, default=1, help="kexecs in a chain")
    bo.add_argument("--smp", type=int, default=4, help="vCPUs")
    bo.add_argument("--cmdline", default="", help="extra kernel parameters")
    bo.add_argument("--timeout", type=int, default=300, help="seconds before QEMU is stopped")
    bo.set_defaults(func=cmd_boot)
    rp = sub.add_parser("report", help="write docs/results/NAME.md and the README's headline table "
                                       "from a run's results.json")
    rp.add_argument("--results", default=os.path.join(BUILD, "report", "results.json"),
                    help="the run's results.json (default: the last run's)")
    rp.add_argument("--name", default="lab", help="the page: docs/results/NAME.md")
    rp.add_argument("--title", help="the page's title")
    rp.add_argument("--docs", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                   "docs", "results"), help="where the page goes")
    rp.add_argument("--readme", help="a README whose headline table (between the lab report "
                                     "markers) this run replaces")
    rp.set_defaults(func=cmd_report)
    ls = sub.add_parser("list", help="the scenarios and the architectures")
    ls.add_argument("what", nargs="?", default="all", choices=("scenarios", "arches", "all"),
                    help="what to list (default: both)")
    ls.set_defaults(func=cmd_list)
    pa = sub.add_parser("parse", help="parse a saved console log: generations, window, splats; "
                                      "with --scenario, that scenario's verdict on it")
    pa.add_argument("log", help="a console log (build/report/logs/*.log)")
    pa.add_argument("--scenario", help="a scenario whose check to run on the log")
    pa.add_argument("--base", default=kernel.SERIES_BASE, help="the base the log's kernel is on")
    pa.add_argument("--smp", type=int, default=4, help="the vCPUs the run had")
    pa.set_defaults(func=cmd_parse)
    b = sub.add_parser("bench", help="time the kexec shutdown path, base vs patched vs rfc")
    b.add_argument("--arch", default="x86_64,arm64", help="architectures, comma-separated")
    # bench and torture build the RFC, which is on top of the series on 7.3.
    b.add_argument("--base", default=RFC_BASE, help="the base the RFC applies to")
    b.add_argument("--smp", default="2,4,8", help="vCPU counts, comma-separated")
    b.add_argument("--runs", type=int, default=5, help="runs per kernel and vCPU count")
    b.set_defaults(func=cmd_bench)
    o = sub.add_parser("torture", help="kexec chains under the hotplug storm (v6 on mainline by default)")
    o.add_argument("--arch", default="arm64", help="architectures, comma-separated, one after the other")
    o.add_argument("--base", default=kernel.SERIES_BASE, help="the base (the RFC's: 7.3)")
    o.add_argument("--smp", type=int, default=8, help="vCPUs per guest")
    o.add_argument("--kexecs", type=int, default=200, help="kexecs to do in all")
    o.add_argument("--gens", type=int, default=25, help="kexecs per QEMU session (chain length)")
    o.add_argument("--minutes", type=float, default=0, help="stop after this much time (0: no limit)")
    o.add_argument("--kernel", default="patched", help="patched, base or rfc; several, comma-separated "
                   "(e.g. base,patched): their sessions alternate")
    o.add_argument("--cmdline", default="", help="extra kernel parameters for every generation")
    o.add_argument("--icount", default="arch", help="QEMU -icount shift (0-10): the guest clock counts "
                   "instructions, not host time; 'off': multi-threaded TCG on the host clock; 'arch' (default): "
                   "the arch's torture_icount, else 0")
    o.set_defaults(func=cmd_torture)
    t = sub.add_parser("test", help="the lab's unit tests (recorded logs, no VM)")
    t.set_defaults(func=cmd_test)
    for sp in (r, b, o, bu, bo, de, va):
        sp.add_argument("--qemu", default=qemu.chosen(), choices=qemu.QEMUS,
                        help="the QEMU to run: Debian 12's (system) or bookworm-backports' QEMU 10 with "
                             "its firmware, unpacked by scripts/fetch-qemu.sh (backports); default: "
                             "$LAB_QEMU, else system")
    a = p.parse_args(argv)
    if a.cmd == "torture" and not set(csv(a.kernel)) <= {"base", "patched", "rfc"}:
        p.error(f"--kernel {a.kernel!r}: rfc, patched or base, comma-separated")
    if a.cmd == "torture" and a.icount not in ("off", "arch") and not a.icount.isdigit():
        p.error(f"--icount {a.icount!r}: a shift from 0 to 10, 'off' or 'arch'")
    if a.cmd in ("run", "boot", "validate") and not 1 <= a.smp <= 16:
        p.error("--smp must be between 1 and 16")
    try:
        if hasattr(a, "qemu") and a.cmd != "deps":     # deps may be what fetches it
            qemu.use(a.qemu)
        return a.func(a)
    except LabError as e:
        print(f"lab: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into head: what was wanted was printed.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
