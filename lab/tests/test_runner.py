"""Aggregation of runs into results, and the report (no VM: runs are faked)."""

import json
import os
import sys
import tempfile
import unittest
from types import SimpleNamespace
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from labtool import report, runner, scenarios  # noqa: E402
from recorded import load, x86_silent_reset  # noqa: E402

ARCH = SimpleNamespace(name="x86_64")
OPTS = SimpleNamespace(label="6.12", base="6.12", smp=4, cmdline="")
IMAGES = {"base": {}, "patched": {}}


def window():
    return next(s for s in scenarios.all_scenarios(iterations=3, gens=1) if s.name == "window")


def fake(outcomes):
    """run_one that replays outcomes[kernel] in order."""
    seen = {"base": 0, "patched": 0}

    def run_one(arch, images, sc, k, i, opts, logdir):
        o = outcomes[k][seen[k]]
        seen[k] += 1
        return o[0], o[1], (o[2] if len(o) > 2 else {}), f"/tmp/{k}-{i}.log", 1.0
    return run_one, seen


class Aggregate(unittest.TestCase):
    def run_with(self, sc, outcomes):
        run_one, seen = fake(outcomes)
        with mock.patch.object(runner, "run_one", run_one), mock.patch.object(runner, "log"):
            return runner.run_scenario(ARCH, IMAGES, sc, OPTS, "/tmp"), seen

    def test_expected_failure_stops_at_the_first_hit(self):
        miss = (True, "0 hotplug operations", {"refused": 0})
        hit = (False, "1 hotplug operation(s) inside the window, first: x")
        ok = (True, "0 hotplug operations", {"refused": 2})
        res, seen = self.run_with(window(), {"base": [miss, miss, miss, miss, hit], "patched": [ok] * 3})
        self.assertEqual(seen["base"], 5)      # ran past 'iterations' until the hit
        self.assertEqual(seen["patched"], 3)
        self.assertEqual(res["base"].result, "fail")
        self.assertEqual(res["base"].verdict, "ok")
        self.assertIn("1/5 runs failed", res["base"].evidence)
        self.assertEqual(res["patched"].verdict, "ok")
        self.assertIn("refused=6 over 3 runs", res["patched"].evidence)

    def test_rates_run_every_iteration_on_both_kernels(self):
        miss = (True, "0 hotplug operations", {"refused": 0})
        hit = (False, "1 hotplug operation(s) inside the window, first: x")
        ok = (True, "0 hotplug operations", {"refused": 2})
        opts = SimpleNamespace(**vars(OPTS), rates=True)
        run_one, seen = fake({"base": [hit, miss, hit], "patched": [ok] * 3})
        with mock.patch.object(runner, "run_one", run_one), mock.patch.object(runner, "log"):
            res = runner.run_scenario(ARCH, IMAGES, window(), opts, "/tmp")
        self.assertEqual(seen, {"base": 3, "patched": 3})
        self.assertIn("2/3 runs failed (2 with 'inside the window')", res["base"].evidence)
        self.assertEqual(res["base"].verdict, "ok")

    def test_base_that_never_shows_the_problem_is_a_mismatch(self):
        miss = (True, "0 hotplug operations", {"refused": 0})
        ok = (True, "0 hotplug operations", {"refused": 1})
        res, seen = self.run_with(window(), {"base": [miss] * window().max_iterations, "patched": [ok] * 3})
        self.assertEqual(seen["base"], window().max_iterations)
        self.assertEqual(res["base"].verdict, "MISMATCH")

    def test_unrelated_failure_does_not_count_as_the_expected_one(self):
        other = (False, "timeout after 135s; last line: x")
        hit = (False, "1 hotplug operation(s) inside the window, first: x")
        ok = (True, "0 hotplug operations", {"refused": 1})
        res, _ = self.run_with(window(), {"base": [other, hit], "patched": [ok] * 3})
        self.assertEqual(res["base"].verdict, "MISMATCH")
        self.assertIn("unrelated failure", res["base"].evidence)

    def test_patched_without_refusals_proves_nothing(self):
        hit = (False, "1 hotplug operation(s) inside the window, first: x")
        zero = (True, "0 hotplug operations", {"refused": 0})
        res, seen = self.run_with(window(), {"base": [hit], "patched": [zero] * window().max_iterations})
        self.assertEqual(seen["patched"], window().max_iterations)   # kept looking for the evidence
        self.assertEqual(res["patched"].result, "fail")
        self.assertEqual(res["patched"].verdict, "MISMATCH")
        self.assertIn("prove nothing", res["patched"].evidence)

    def test_patched_runs_on_until_the_evidence_shows(self):
        hit = (False, "1 hotplug operation(s) inside the window, first: x")
        zero = (True, "0 hotplug operations", {"refused": 0})
        some = (True, "0 hotplug operations", {"refused": 3})
        res, seen = self.run_with(window(), {"base": [hit], "patched": [zero] * 5 + [some]})
        self.assertEqual(seen["patched"], 6)
        self.assertEqual(res["patched"].verdict, "ok")
        self.assertIn("refused=3 over 6 runs", res["patched"].evidence)

    def test_arm64_window_base_is_information(self):
        sc = window()
        self.assertEqual(sc.expected("arm64", "base"), "any")
        self.assertEqual(sc.expected("x86_64", "base"), "fail")
        self.assertEqual(sc.expected("arm64", "patched"), "pass")
        miss = (True, "0 hotplug operations", {"refused": 1})
        run_one, seen = fake({"base": [miss] * window().max_iterations, "patched": [miss] * 3})
        with mock.patch.object(runner, "run_one", run_one), mock.patch.object(runner, "log"):
            res = runner.run_scenario(SimpleNamespace(name="arm64"), IMAGES, sc, OPTS, "/tmp")
        self.assertEqual(seen["base"], 3)          # no hunting for a failure there
        self.assertEqual(res["base"].verdict, "info")

    def test_any_expectation_is_information(self):
        sc = next(s for s in scenarios.all_scenarios(iterations=2, gens=1) if s.name == "kexec-storm")
        run_one, _ = fake({"base": [(False, "timeout"), (True, "ok")],
                           "patched": [(True, "ok"), (True, "ok")]})
        # arm64: there the patched kernel must pass (x86 measures it only).
        with mock.patch.object(runner, "run_one", run_one), mock.patch.object(runner, "log"):
            res = runner.run_scenario(SimpleNamespace(name="arm64"), IMAGES, sc, OPTS, "/tmp")
        self.assertEqual(res["base"].verdict, "info")
        self.assertIn("1/2 runs failed", res["base"].evidence)
        self.assertEqual(res["patched"].verdict, "ok")


class ArchFilter(unittest.TestCase):
    def test_x86_only_scenario_is_not_run_on_arm64(self):
        sc = next(s for s in scenarios.all_scenarios() if s.name == "smt-window")
        self.assertEqual(sc.arches, ("x86_64",))
        calls = []
        with mock.patch.object(runner, "prepare", lambda a, o: {"base": {}, "patched": {}}), \
                mock.patch.object(runner.kernel, "tree_source", lambda t: {"kernel_version": ""}), \
                mock.patch.object(runner.qemu, "describe", lambda a: {"emulator": "QEMU", "firmware": ""}), \
                mock.patch.object(runner, "run_scenario", lambda *a: calls.append(a[2].name) or {
                    k: runner.Result(a[0].name, "6.12", k, a[2].name, "pass", "pass", "")
                    for k in ("base", "patched")}), \
                mock.patch.object(runner, "log"), tempfile.TemporaryDirectory() as d, \
                mock.patch.object(runner, "BUILD", d):
            runner.run_arch(SimpleNamespace(name="arm64"), OPTS, [sc])
            self.assertEqual(calls, [])
            runner.run_arch(SimpleNamespace(name="x86_64"), OPTS, [sc])
            self.assertEqual(calls, ["smt-window"])
            # 6.12 only: on 6.1 the SMT storm starts no hotplug operation.
            runner.run_arch(SimpleNamespace(name="x86_64"),
                            SimpleNamespace(**dict(vars(OPTS), base="6.1", label="6.1")), [sc])
            self.assertEqual(calls, ["smt-window"])

    def test_topology_reaches_qemu(self):
        from labtool import qemu
        seen = {}

        class P:
            returncode = 0

            def communicate(self, timeout=None):
                return b"", b""

        def popen(cmd, **kw):
            seen["cmd"] = cmd
            return P()
        with tempfile.NamedTemporaryFile() as f, mock.patch.object(qemu.subprocess, "Popen", popen):
            qemu.boot(SimpleNamespace(qemu="q", qemu_args=[], dtb_fix=""), "img", "rd", 4, "x", f.name, 5,
                      "sockets=1,cores=2,threads=2")
        self.assertEqual(seen["cmd"][seen["cmd"].index("-smp") + 1], "4,sockets=1,cores=2,threads=2")


class KnownReset(unittest.TestCase):
    """The x86 reset fails the run, named in its evidence; no run is repeated."""

    def boots(self, texts, triple=True):
        good, cut = x86_silent_reset()
        calls = []

        def boot(arch, image, initrd, smp, append, logfile, timeout, topology="", dtb_fix=True):
            text = {"good": good, "reset": cut}[texts[len(calls)]]
            calls.append(logfile)
            with open(logfile, "w") as f:
                f.write(text)
            with open(logfile + ".qemu", "w") as f:
                f.write("Triple fault\n" if triple else "")
            return text, 1.0, False
        sc = next(s for s in scenarios.all_scenarios(iterations=1, gens=1) if s.name == "offline-before-kexec")
        with tempfile.TemporaryDirectory() as d, mock.patch.object(runner.qemu, "boot", boot), \
                mock.patch.object(runner, "log"):
            arch = SimpleNamespace(name="x86_64", console="ttyS0", cmdline="", loader="", kprobe_arg1="")
            out = runner.run_one(arch, {"patched": {"image": "i", "initrd": "r"}}, sc, "patched", 0,
                                 OPTS, d)
            names = sorted(os.listdir(d))
        return out, calls, names

    def test_a_reset_fails_and_is_named(self):
        (ok, ev, counters, _, _), calls, names = self.boots(["reset", "good"])
        self.assertFalse(ok)
        self.assertEqual(len(calls), 1)
        self.assertEqual(counters["x86_resets"], 1)
        self.assertTrue(ev.startswith("x86 triple fault in a kexec'd kernel"), ev)
        self.assertIn("generations booted", ev)
        self.assertEqual(names, ["x86_64-6.12-patched-offline-before-kexec-0.log",
                                 "x86_64-6.12-patched-offline-before-kexec-0.log.qemu"])

    def test_no_triple_fault_not_named(self):
        (ok, ev, counters, _, _), calls, _ = self.boots(["reset", "good"], triple=False)
        self.assertFalse(ok)
        self.assertEqual(len(calls), 1)
        self.assertEqual(counters["x86_resets"], 0)
        self.assertNotIn("triple fault", ev)


class BspBroadcast(unittest.TestCase):
    """x86 bsp-broadcast: a kexec'd kernel that left the real BSP out must
    not allow shorthand IPIs, and must have run the IPI storm."""

    def check(self, text, logfile="x.log"):
        from labtool import parser
        sc = next(s for s in scenarios.all_scenarios(iterations=1, gens=1) if s.name == "bsp-broadcast")
        run = scenarios.Run(parser.parse(text), False, 1.0, logfile, 4)
        return sc.check(run, sc)

    def test_reset_named_first(self):
        with tempfile.TemporaryDirectory() as d:
            log = os.path.join(d, "x.log")
            with open(log + ".qemu", "w") as f:
                f.write("Triple fault\n")
            ok, ev, _ = self.check(x86_silent_reset()[1], log)
        self.assertFalse(ok)
        self.assertTrue(ev.startswith("x86 triple fault with the real BSP left out and halted"), ev)

    def test_base_broadcasts(self):
        ok, ev, _ = self.check(load("x86_64-bsp-disabled.log"))
        self.assertFalse(ok)
        self.assertIn("generation 1 left the real BSP out and broadcasts IPIs all the same", ev)
        self.assertIn("real BSP", ev)

    def fixed(self, storm=True):
        text = load("x86_64-bsp-disabled.log")
        i = text.index("Disabling real BSP")
        text = text[:i] + text[i:].replace("IPI shorthand broadcast: enabled", "IPI shorthand broadcast: disabled")
        if storm:
            text = text.replace("LAB: done gen=1", "LAB: ipi storm: 3135 unmaps from cpu2 with 2 other CPUs "
                                "spinning, 20000 ms\nLAB: done gen=1")
        return text

    def test_fixed_passes(self):
        ok, ev, _ = self.check(self.fixed())
        self.assertTrue(ok, ev)
        self.assertIn("ipi storm: 3135 unmaps", ev)

    def test_no_storm_proves_nothing(self):
        ok, ev, _ = self.check(self.fixed(storm=False))
        self.assertFalse(ok)
        self.assertIn("no IPI storm", ev)

    def test_bsp_not_left_out_proves_nothing(self):
        ok, ev, _ = self.check(self.fixed().replace("Crash kernel detected. Disabling real BSP", "Crash kernel"))
        self.assertFalse(ok)
        self.assertIn("proves nothing", ev)


class KnownRace(unittest.TestCase):
    """A ppc64le CPU left in the old kernel's kexec_wait: a failure, named."""

    def boots(self, texts, where="CPU#0 plpar_hcall_norets_notrace+0x18, CPU#2 kexec_wait+0x10"):
        good = load("ppc64le-patched-offline-before-kexec.log")
        stuck = good.replace("smp: Brought up 1 node, 4 CPUs", "Processor 1 is stuck.", 2)
        calls = []

        def boot(arch, image, initrd, smp, append, logfile, timeout, topology="", dtb_fix=True):
            kind = texts[len(calls)]
            calls.append(logfile)
            with open(logfile, "w") as f:
                f.write(good if kind == "good" else stuck)
            if kind.startswith("stuck"):
                with open(logfile + ".regs", "w") as f:
                    f.write("after: Processor 1 is stuck.\n")
            return (good if kind == "good" else stuck), 1.0, kind == "stuck-timeout"
        sc = next(s for s in scenarios.all_scenarios(iterations=1, gens=1) if s.name == "offline-before-kexec")
        with tempfile.TemporaryDirectory() as d, mock.patch.object(runner.qemu, "boot", boot), \
                mock.patch.object(runner.qemu, "snapshot_summary", lambda *a: where), \
                mock.patch.object(runner, "log"):
            arch = SimpleNamespace(name="ppc64le", console="hvc0", cmdline="", loader="", kprobe_arg1="",
                                   cross="powerpc64le-linux-gnu-", hwid_source="guest")
            out = runner.run_one(arch, {"patched": {"image": os.path.join(d, "image"), "initrd": "r"}}, sc,
                                 "patched", 0, OPTS, d)
            names = sorted(os.listdir(d))
        return out, calls, names

    def test_stuck_in_kexec_wait_fails_and_is_named(self):
        (ok, ev, counters, _, _), calls, names = self.boots(["stuck", "good"])
        self.assertFalse(ok, ev)
        self.assertEqual(len(calls), 1)
        self.assertEqual(counters["kexec_flag_races"], 1)
        self.assertEqual(counters["x86_resets"], 0)
        self.assertIn("(powerpc kexec_flag race, see docs/investigations.md)", ev)
        self.assertIn("ppc64le-6.12-patched-offline-before-kexec-0.log.regs", names)

    def test_stuck_then_timeout_is_named(self):
        # The storm waits for the stuck CPU at every bring-up: a timeout.
        (ok, ev, counters, _, _), calls, _ = self.boots(["stuck-timeout", "good"])
        self.assertFalse(ok, ev)
        self.assertEqual(counters["kexec_flag_races"], 1)

    def test_stuck_elsewhere_is_not_the_race(self):
        # A CPU stuck anywhere but kexec_wait is not the known race.
        (ok, ev, counters, _, _), calls, _ = self.boots(["stuck", "good"], where="CPU#2 start_secondary+0x40")
        self.assertFalse(ok)
        self.assertEqual(len(calls), 1)
        self.assertEqual(counters["kexec_flag_races"], 0)
        self.assertIn("Processor 1 is stuck", ev)
        self.assertIn("start_secondary+0x40", ev)


class Report(unittest.TestCase):
    def results(self):
        R = runner.Result
        return [R("x86_64", "6.12", "base", "window", "fail", "fail", "1/4 runs failed; run 4: hit"),
                R("x86_64", "6.12", "patched", "window", "pass", "pass", "0/2 runs failed"),
                R("x86_64", "6.12", "base", "kexec-storm", "any", "fail", "1/2 runs failed"),
                R("x86_64", "6.12", "patched", "kexec-storm", "pass", "fail", "1/2 runs failed"),
                R("x86_64", "6.12", "base", "kexec-tools-l", "pass", "skip", "no kexec-tools")]

    def test_closing_line_counts_definite_cells_only(self):
        self.assertEqual(report.closing_line(self.results()), "2 passed, 1 failed, 1 skipped")

    def test_table_marks_mismatch(self):
        t = report.text_table([r for r in self.results() if r.scenario != "kexec-tools-l"])
        self.assertIn("MISMATCH: expected pass", t)
        self.assertIn("(info)", t)

    def test_json_has_the_documented_fields(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "results.json")
            runner.save(self.results(), path)
            data = json.load(open(path))["results"]
            _, back = runner.load(path)
        self.assertEqual([vars(r) for r in back], [vars(r) for r in self.results()])
        for row in data:
            for key in ("arch", "base", "kernel", "scenario", "expected", "result", "evidence"):
                self.assertIn(key, row)
            self.assertIn(row["result"], ("pass", "fail", "skip"))
            self.assertIn(row["expected"], ("pass", "fail", "any"))


class ArmDefaults(unittest.TestCase):
    """arm: kexec_load() through kexec-tools, kprobe arguments from r0."""

    def test_arm_conf_loads(self):
        from labtool import arch
        a = arch.load("arm")
        self.assertEqual((a.karch, a.loader, a.kprobe_arg1), ("arm", "tools", "%r0"))

    def test_arch_loader_is_the_default_not_an_override(self):
        from labtool import arch, qemu
        a = arch.load("arm")
        line = qemu.cmdline(a, "lab.action=kexec lab.gens=1")
        self.assertIn("lab.loader=tools", line.split())
        self.assertNotIn("$arg1", line)
        self.assertIn("lab_up_start,smpboot_create_threads,cpu=%r0:u32", line)
        line = qemu.cmdline(a, "lab.action=kexec lab.loader=tools-s")
        self.assertEqual([w for w in line.split() if w.startswith("lab.loader=")],
                         ["lab.loader=tools-s"])
        x86 = arch.load("x86_64")
        line = qemu.cmdline(x86, "lab.action=kexec")
        self.assertNotIn("lab.loader=", line)
        self.assertIn("cpu=$arg1:u32", line)
        self.assertIn("tsc=nowatchdog", line.split())

    def test_teardown_scenarios_run_on_arm(self):
        names = [s.name for s in scenarios.all_scenarios() if s.arches and "arm" in s.arches]
        for n in ("teardown-isolcpus", "teardown-housekeeping", "teardown-fail"):
            self.assertIn(n, names)
        for s in scenarios.all_scenarios():
            if s.name in ("window", "kexec-tools-s", "selftest", "smt-window", "kexec-placement"):
                self.assertNotIn("arm", s.arches)


class Mips64elNotBooted(unittest.TestCase):
    """mips64el: the conf says why the lab does not boot it, and run_arch
    stops with that reason before building anything."""

    def test_run_arch_refuses_with_the_reason(self):
        from labtool import arch
        from labtool.util import LabError
        a = arch.load("mips64el")
        self.assertEqual((a.karch, a.loader), ("mips", "tools"))
        self.assertIn("IPI", a.not_booted)
        opts = SimpleNamespace(base="6.12", label="6.12")
        with mock.patch.object(runner, "prepare") as prep:
            with self.assertRaises(LabError) as cm:
                runner.run_arch(a, opts, scenarios.all_scenarios())
        prep.assert_not_called()
        self.assertIn("not booted in the lab", str(cm.exception))



class OptIn(unittest.TestCase):
    def test_open_investigations_run_only_when_named(self):
        self.assertNotIn("vcpu-eject", [s.name for s in scenarios.select([])])
        self.assertEqual([s.name for s in scenarios.select(["vcpu-eject"])], ["vcpu-eject"])

    def test_eject_without_a_request_proves_nothing(self):
        with tempfile.TemporaryDirectory() as d:
            log = os.path.join(d, "x.log")
            with open(log + ".qmp", "w") as f:
                f.write("device_del /machine/unattached/device[4] 300 ms after 'LAB: wait': not sent; "
                        "guest _OST status none; vCPU removed: no\n")
            run = SimpleNamespace(logfile=log)
            ok, ev, _ = scenarios.check_eject(run, scenarios.select(["vcpu-eject"])[0])
        self.assertFalse(ok)
        self.assertIn("no eject request sent", ev)


class Rounds(unittest.TestCase):
    """The one loop of run, bench and torture."""

    def test_kernels_take_turns_until_none_is_wanted(self):
        seen = []
        n = runner.rounds(["base", "patched"], lambda k, i: seen.append((k, i)),
                          lambda k, i: i < (3 if k == "base" else 1))
        self.assertEqual(seen, [("base", 0), ("patched", 0), ("base", 1), ("base", 2)])
        self.assertEqual(n, 3)

    def test_wanted_is_asked_before_the_round(self):
        done = set()
        seen = []

        def attempt(k, i):
            seen.append(k)
            done.add("patched")         # must not drop patched from this round
        runner.rounds(["base", "patched"], attempt, lambda k, i: i == 0 and k not in done)
        self.assertEqual(seen, ["base", "patched"])


class Timeout(unittest.TestCase):
    def test_scales_with_vcpus_past_four(self):
        sc = SimpleNamespace(gens=25)
        self.assertEqual(runner.timeout_for(sc), 90 + 45 * 25)
        self.assertEqual(runner.timeout_for(sc, 2), 90 + 45 * 25)
        self.assertEqual(runner.timeout_for(sc, 8), 90 + 90 * 25)


class Types(unittest.TestCase):
    """Typed expectations, outcomes and verdicts; strings in results.json."""

    def test_results_json_round_trip(self):
        from labtool.verdict import Expect, Outcome, Verdict
        r = runner.Result("x86_64", "7.3", "base", "window", "fail", "fail", "e")
        self.assertIs(r.expected, Expect.FAIL)
        self.assertIs(r.result, Outcome.FAIL)
        self.assertIs(r.verdict, Verdict.OK)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "results.json")
            runner.save([r], path)
            with open(path) as f:
                self.assertEqual(json.load(f)["results"][0]["expected"], "fail")
            _, (back,) = runner.load(path)
        self.assertIs(back.result, Outcome.FAIL)
        self.assertIs(back.verdict, Verdict.OK)

    def test_verdicts(self):
        from labtool.verdict import Verdict
        v = [runner.Result("a", "b", "k", "s", e, r, "").verdict
             for e, r in (("pass", "pass"), ("pass", "fail"), ("any", "fail"), ("fail", "skip"))]
        self.assertEqual(v, [Verdict.OK, Verdict.MISMATCH, Verdict.INFO, Verdict.SKIP])
        r = runner.Result("a", "b", "k", "s", "fail", "fail", "", unrelated_failure=True)
        self.assertIs(r.verdict, Verdict.MISMATCH)

    def test_an_unknown_string_is_refused(self):
        with self.assertRaises(ValueError):
            runner.Result("a", "b", "k", "s", "maybe", "pass", "")


class Hooks(unittest.TestCase):
    """Arch knowledge: data in lab/arch/*.conf, code in hooks.py."""

    def test_known_failures_belong_to_their_arch(self):
        from labtool import hooks
        from labtool import parser
        stuck = scenarios.Run(parser.parse("[    1.000000] Processor 1 is stuck.\n"), False, 1.0, "x.log", 4)
        note = " [vCPUs then: CPU#2 kexec_wait+0x10]"
        self.assertEqual(hooks.known_failure(SimpleNamespace(name="ppc64le"), stuck, "x.log", note)[0].kind, "race")
        self.assertIsNone(hooks.known_failure(SimpleNamespace(name="x86_64"), stuck, "x.log", note))

    def test_arch_lists_come_from_the_conf_files(self):
        from labtool import arch as archmod, bench
        self.assertEqual(bench.RFC_ARCHES, ("arm64", "riscv64"))
        self.assertEqual(archmod.names_with("kexec_teardown", "hotplug"), ("arm", "arm64", "riscv64"))
        sc = next(s for s in scenarios.all_scenarios() if s.name == "teardown-fail")
        self.assertEqual(sc.arches, ("arm", "arm64", "riscv64"))



class BootByHand(unittest.TestCase):
    """lab.py boot: one guest, its log kept and read; lab.py parse."""

    def boot(self, argv, text, timed_out=False):
        import lab
        seen = {}

        def qboot(arch, image, initrd, smp, append, logfile, timeout, **kw):
            seen.update(image=image, smp=smp, append=append, logfile=logfile, kw=kw)
            with open(logfile, "w") as f:
                f.write(text)
            return text, 2.0, timed_out
        images = {k: {"image": f"/img/{k}", "initrd": "/rd"} for k in ("base", "patched")}
        with tempfile.TemporaryDirectory() as d, mock.patch.object(lab, "BUILD", d), \
                mock.patch.object(runner, "prepare", lambda arch, opts: images), \
                mock.patch.object(runner.qemu, "boot", qboot), mock.patch.object(lab, "log"), \
                mock.patch("sys.stdout", new_callable=__import__("io").StringIO) as out:
            rc = lab.main(["boot", *argv])
            seen["names"] = os.listdir(os.path.join(d, "boot"))
        return rc, out.getvalue(), seen

    def test_a_scenario_by_hand(self):
        rc, out, seen = self.boot(["--arch", "x86_64", "--kernel", "base", "--scenario", "window"],
                                  load("x86_64-base-window-hit.log"))
        self.assertEqual(rc, 1)
        self.assertEqual(seen["image"], "/img/base")
        self.assertIn("lab.action=", seen["append"])
        self.assertEqual(seen["names"], ["x86_64-7.3-base.log"])
        self.assertIn("window on this log: fail: 1 hotplug operation(s) inside the window", out)
        self.assertIn("generation 0: 232 lines, 22 lab events, 1 hotplug operation(s) in the window", out)

    def test_an_action_by_hand(self):
        rc, out, seen = self.boot(["--arch", "arm64", "--action", "reboot", "--smp", "2"],
                                  load("arm64-base-teardown-fail.log"))
        self.assertEqual(rc, 1)                 # the log has splats
        self.assertIn("lab.action=reboot lab.gens=1", seen["append"])
        self.assertEqual(seen["smp"], 2)
        self.assertIn("splat: [    3.467965] Failed to offline CPU2 - error=-11", out)

    def test_bad_input(self):
        import lab
        with mock.patch("sys.stderr", new_callable=__import__("io").StringIO) as err:
            self.assertEqual(lab.main(["boot", "--arch", "nope"]), 2)
            self.assertEqual(lab.main(["boot", "--base", "5.10"]), 2)
        self.assertIn("unknown architecture 'nope'", err.getvalue())
        self.assertIn("unknown base '5.10'", err.getvalue())

    def test_parse_a_log_without_a_reboot_path(self):
        import lab
        with tempfile.NamedTemporaryFile("w", suffix=".log") as f, \
                mock.patch("sys.stdout", new_callable=__import__("io").StringIO) as out:
            f.write("[    0.000000] Linux version 7.3.4\n")
            f.flush()
            self.assertEqual(lab.main(["parse", f.name]), 0)
        self.assertIn("generation 0: 1 lines, 0 lab events, no reboot path traced", out.getvalue())


if __name__ == "__main__":
    unittest.main()
