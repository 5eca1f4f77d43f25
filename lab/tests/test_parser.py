"""The parser and the scenario checks on recorded console logs (no VM).

Every log in data/ was recorded by the lab from a real guest; broken and
truncated variants are derived from them here.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from labtool import parser, scenarios  # noqa: E402
from recorded import load, x86_silent_reset  # noqa: E402


def run_of(text, smp=4, timed_out=False):
    return scenarios.Run(parser.parse(text), timed_out, 7.0, "x.log", smp)


def scenario(name):
    return next(s for s in scenarios.all_scenarios(iterations=1, gens=1) if s.name == name)


class ParseGenerations(unittest.TestCase):
    def test_kexec_gives_two_generations(self):
        log = parser.parse(load("arm64-base-window-miss.log"))
        self.assertEqual(len(log.generations), 2)
        self.assertEqual(log.generations[0].boot["gen"], "0")
        self.assertEqual(log.generations[1].boot["gen"], "1")
        self.assertTrue(log.generations[1].done)
        self.assertFalse(log.generations[0].done)

    def test_events_are_parsed_with_timestamps_and_args(self):
        g = parser.parse(load("x86_64-base-window-hit.log")).generations[0]
        names = [e.name for e in g.events]
        self.assertIn("lab_kexec", names)
        self.assertIn("lab_mig", names)
        self.assertIn("lab_jump", names)
        up = next(e for e in g.events if e.name == "lab_up_start")
        self.assertIn(up.args["cpu"], {"1", "2", "3"})
        self.assertGreater(g.timestamp("lab_jump"), g.timestamp("lab_kexec"))

    def test_x86_boot_cpu_comes_from_the_guest(self):
        log = parser.parse(load("x86_64-base-offline-before-kexec.log"))
        self.assertEqual(log.generations[1].hwid, "0")

    def test_arm64_boot_cpu_comes_from_the_kernel(self):
        # "Booting Linux on physical CPU 0x1" comes before "Linux version".
        log = parser.parse(load("arm64-base-window-miss.log"))
        self.assertEqual(log.generations[0].hwid, "0")
        self.assertEqual(log.generations[1].hwid, "1")

    def test_cpulist(self):
        self.assertEqual(parser.cpulist("0-2,5"), {0, 1, 2, 5})
        self.assertEqual(parser.cpulist(""), set())


class Interleaving(unittest.TestCase):
    """Kernel messages land inside the guest's lines (recorded logs)."""

    def test_guest_line_cut_by_a_kernel_message(self):
        # "LAB: boot gen=1 [    2.70] input: ..." then "cpu=0 online=0-2 ..."
        log = parser.parse(load("x86_64-interleaved-boot-line.log"))
        g1 = log.generations[1]
        self.assertEqual(g1.boot["online"], "0-2")
        self.assertEqual(g1.boot["hwid"], "1")
        self.assertTrue(any("ImExPS/2" in l for l in g1.lines))

    def test_kernel_event_after_a_guest_line(self):
        # "LAB: action kexec gen=0[    4.65] lab_kexec: (kernel_kexec+0x4/0x7f)"
        log = parser.parse(load("x86_64-interleaved-event.log"))
        g0 = log.generations[0]
        self.assertIsNotNone(g0.timestamp("lab_kexec"))
        self.assertIn("action kexec gen=0", g0.lab)
        self.assertEqual(g0.boot["possible"], "0-3")

    def test_logical_lines(self):
        text = "LAB: a b[    1.0] kmsg one\n c d\n[    1.1] kmsg two\nLAB: e[    1.2] ev\n\n"
        self.assertEqual(list(parser.logical_lines(text)),
                         ["[    1.0] kmsg one", "LAB: a b c d", "[    1.1] kmsg two",
                          "[    1.2] ev", "LAB: e"])


class Window(unittest.TestCase):
    def test_x86_base_hit(self):
        ok, ev, _ = scenarios.check_window(run_of(load("x86_64-base-window-hit.log")), scenario("window"))
        self.assertFalse(ok)
        self.assertIn("inside the window", ev)
        self.assertIn("lab_", ev)

    def test_arm64_base_hit_ends_at_teardown(self):
        g = parser.parse(load("arm64-base-window-hit.log")).generations[0]
        ops, refused, end = g.window()
        self.assertTrue(ops)
        self.assertEqual(end, "lab_teardown")

    def test_miss_reports_no_refusals(self):
        # A run in which the storm never reached the window passes alone,
        # but counts no refusal: Scenario.require fails the whole scenario
        # when no run has any.
        ok, ev, counters = scenarios.check_window(run_of(load("arm64-base-window-miss.log")),
                                                  scenario("window"))
        self.assertTrue(ok, ev)
        self.assertEqual(counters, {"refused": 0})
        self.assertIn("refused", scenario("window").require)

    def test_only_refusals_inside_the_window_count(self):
        # After the teardown every kernel refuses (cpu_hotplug_disabled++
        # at its end), so a refusal there shows nothing.
        refused = "[    2.5%s] lab_target: (dev_attr_store+0x14/0x24 <- target_store) ret=-16\n"
        lines = load("arm64-base-window-miss.log").splitlines(keepends=True)
        mig = next(i for i, l in enumerate(lines) if "lab_mig:" in l)
        down = next(i for i, l in enumerate(lines) if "lab_teardown:" in l)
        after = lines[:down + 1] + [refused % "13400"] + lines[down + 1:]
        ok, ev, counters = scenarios.check_window(run_of("".join(after)), scenario("window"))
        self.assertEqual(counters, {"refused": 0})
        inside = after[:mig + 1] + [refused % "11000"] + after[mig + 1:]
        ok, ev, counters = scenarios.check_window(run_of("".join(inside)), scenario("window"))
        self.assertEqual(counters, {"refused": 1})

    def test_no_trace_is_a_failure(self):
        text = "\n".join(l for l in load("arm64-base-window-miss.log").splitlines() if "lab_" not in l)
        ok, ev, _ = scenarios.check_window(run_of(text), scenario("window"))
        self.assertFalse(ok)


class Failures(unittest.TestCase):
    def test_clean_kexec_passes(self):
        ok, ev, _ = scenarios.check_kexec(run_of(load("x86_64-base-offline-before-kexec.log")),
                                       scenario("offline-before-kexec"))
        self.assertTrue(ok, ev)

    def test_truncated_log_fails_with_last_line(self):
        text = load("x86_64-base-offline-before-kexec.log")
        text = text[:text.index("\n", text.index("kexec_core: Starting new kernel"))]
        ok, ev, _ = scenarios.check_kexec(run_of(text, timed_out=True), scenario("offline-before-kexec"))
        self.assertFalse(ok)
        self.assertIn("timeout", ev)
        self.assertIn("Starting new kernel", ev)

    def test_every_splat_kind_is_caught(self):
        base = load("x86_64-base-offline-before-kexec.log")
        for splat in ("BUG: sleeping function called from invalid context at kernel/locking/mutex.c:585",
                      "WARNING: CPU: 1 PID: 1 at kernel/cpu.c:1550 smp_shutdown_nonboot_cpus+0x1/0x2",
                      "Oops: general protection fault, probably for non-canonical address",
                      "WARNING: possible circular locking dependency detected",
                      "INFO: task init:1 blocked for more than 20 seconds.",
                      "smp: Processor 3 is stuck.",
                      "Kernel panic - not syncing: Attempted to kill init!",
                      "kernel BUG at kernel/cpu.c:1563!",
                      "watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [init:1]",
                      "process 1 (init) no longer affine to cpu1",
                      "Failed to offline CPU3 - error=-16"):
            text = base.replace("LAB: done gen=1", f"[    2.0] {splat}\nLAB: done gen=1")
            ok, ev, _ = scenarios.check_kexec(run_of(text), scenario("offline-before-kexec"))
            self.assertFalse(ok, splat)
            self.assertIn(splat.split()[0], ev)

    def test_boot_messages_are_not_splats(self):
        # PROVE_RCU prints "RCU lockdep checking is enabled." at every boot.
        log = parser.parse(load("arm64-base-window-miss.log"))
        self.assertEqual(log.splats, [])

    def test_x86_kernel_entered_on_another_cpu_than_the_bsp(self):
        # Recorded: kexec from CPU 1; the new kernel leaves the BSP out
        # on purpose, so 3 of 4 CPUs is the right outcome there.
        log = parser.parse(load("x86_64-bsp-disabled.log"))
        self.assertIn("Disabling real BSP", log.generations[1].bsp_disabled)
        self.assertIsNone(log.generations[0].bsp_disabled)
        self.assertIsNone(scenarios._all_online(run_of(load("x86_64-bsp-disabled.log"))))
        text = load("x86_64-bsp-disabled.log").replace("Disabling real BSP", "Disabling")
        self.assertIn("4 expected", scenarios._all_online(run_of(text)) or "")

    def test_x86_silent_reset_with_the_bsp_halted(self):
        # The recorded chain, cut where the kexec'd kernel ended silently.
        text, cut = x86_silent_reset()
        cut += "Unpacking\n"
        self.assertIn("Unpacking", parser.parse(cut).silent_reset_without_bsp())
        self.assertIsNone(parser.parse(text).silent_reset_without_bsp())
        # Not that failure: a panic, or a kernel entered on the BSP.
        self.assertIsNone(parser.parse(cut + "[    1.6] Kernel panic - not syncing: x\n")
                          .silent_reset_without_bsp())
        self.assertIsNone(parser.parse(cut.replace("Disabling real BSP", "Disabling"))
                          .silent_reset_without_bsp())
        self.assertIsNone(parser.parse(cut + "[    1.6] reboot: Restarting system\n")
                          .silent_reset_without_bsp())

    def test_x86_silent_reset_with_reboot_s(self):
        # reboot=s3 in a kernel short of its BSP (3 CPUs): reboot.c says it
        # ignores the CPU number. Still the silent reset (a make check run).
        text, cut = x86_silent_reset()
        cut += ("[    0.07] reboot: Ignoring the CPU number in reboot= option. "
                "CPU 3 exceeds possible cpu number 3\nUnpacking\n")
        self.assertIn("Unpacking", parser.parse(cut).silent_reset_without_bsp())

    def test_missing_cpu_in_new_kernel_fails(self):
        text = load("x86_64-base-offline-before-kexec.log").replace(
            "LAB: boot gen=1 cpu=0 online=0-3", "LAB: boot gen=1 cpu=0 online=0-2")
        ok, ev, _ = scenarios.check_kexec(run_of(text), scenario("offline-before-kexec"))
        self.assertFalse(ok)
        self.assertIn("0-2 online", ev)

    def test_guest_error_fails(self):
        text = load("x86_64-base-offline-before-kexec.log").replace(
            "LAB: loaded gen=1", "LAB: error: kexec_file_load: Invalid argument\nLAB: loaded gen=1")
        ok, ev, _ = scenarios.check_kexec(run_of(text), scenario("offline-before-kexec"))
        self.assertFalse(ok)
        self.assertIn("kexec_file_load", ev)


class RebootCpu(unittest.TestCase):
    def test_x86_early_zero_timestamps_stay_in_one_generation(self):
        # x86 prints [    0.000000] again after later timestamps early in a
        # boot; recorded on the patched kernel, reboot CPU 3 taken down
        # by the storm just before migrate_to_reboot_cpu().
        text = load("x86_64-patched-rcpu-fallback.log")
        log = parser.parse(text)
        self.assertEqual([g.boot["gen"] for g in log.generations], ["0", "1"])
        self.assertEqual(scenarios.chosen_cpu(log.generations[0], 3), 0)
        ok, ev, _ = scenarios.check_reboot_cpu(run_of(text), scenario("reboot-cpu-sysfs"))
        self.assertTrue(ok, ev)
        self.assertIn("chosen CPU 0", ev)

    def test_chosen_cpu_follows_the_last_operation_before_mig(self):
        g = parser.parse(load("x86_64-base-window-hit.log")).generations[0]
        self.assertIn(scenarios.chosen_cpu(g, 1), (0, 1))
        fake = parser.Generation(0, boot={"online": "0-3"})
        ev = lambda n, cpu: parser.Event(1.0, n, {"cpu": str(cpu)}, "")  # noqa: E731
        fake.events = [ev("lab_down_start", 3), ev("lab_mig", 0)]
        self.assertEqual(scenarios.chosen_cpu(fake, 3), 0)
        fake.events = [ev("lab_down_start", 3), ev("lab_up_start", 3), ev("lab_mig", 0)]
        self.assertEqual(scenarios.chosen_cpu(fake, 3), 3)
        fake.events = [ev("lab_mig", 0), ev("lab_down_start", 3)]
        self.assertEqual(scenarios.chosen_cpu(fake, 3), 3)


class Selftest(unittest.TestCase):
    """check_selftest() on the KTAP output of vmtest_hotplug.sh."""

    def test_recorded_pass_with_a_skip(self):
        ok, ev, _ = scenarios.check_selftest(load("selftest-x86_64-patched.ktap"), scenario("selftest"))
        self.assertTrue(ok, ev)
        self.assertIn("pass:4", ev)

    def test_not_ok_fails_with_its_line(self):
        text = load("selftest-x86_64-patched.ktap").replace(
            "ok 3 no CPU hotplug", "not ok 3 no CPU hotplug")
        ok, ev, _ = scenarios.check_selftest(text, scenario("selftest"))
        self.assertFalse(ok)
        self.assertIn("not ok 3", ev)

    def test_mainline_pass(self):
        ok, ev, _ = scenarios.check_selftest(load("selftest-x86_64-7.3-patched.ktap"), scenario("selftest"))
        self.assertTrue(ok, ev)
        self.assertIn("pass:5 fail:0", ev)

    def test_operation_in_the_window_is_the_signature(self):
        sc = scenario("selftest")
        ok, ev, _ = scenarios.check_selftest(load("selftest-x86_64-7.3-base.ktap"), sc)
        self.assertFalse(ok)
        self.assertIn(sc.fail_signature, ev)
        self.assertTrue(ev.startswith("operation inside the window: [    7.795812] down_start: "), ev)

    def test_broken_chain_is_not_the_signature(self):
        # The chain ends without an operation inside the window: the test
        # has no trace to look at, and the evidence names the console's
        # last line, not the bug.
        sc = scenario("selftest")
        text = load("selftest-x86_64-7.3-base.ktap").replace(
            "# [    7.795812] down_start: (_cpu_down+0x0/0x17d) cpu=2\n",
            "# no trace of the CPU hotplug operations or of 4 kexecs\n")
        ok, ev, _ = scenarios.check_selftest(text, sc)
        self.assertFalse(ok)
        self.assertNotIn(sc.fail_signature, ev)
        self.assertTrue(ev.startswith("not ok 1 kexec chain completed: 4 kexecs expected; "
                                      "last line: [    9.873704] jump: "), ev)

    def test_skip_all_is_not_a_pass(self):
        ok, ev, _ = scenarios.check_selftest("TAP version 13\n1..0 # SKIP qemu-system-x86_64 not found\n",
                                          scenario("selftest"))
        self.assertFalse(ok)
        self.assertIn("not found", ev)

    def test_truncated_output_fails(self):
        text = load("selftest-x86_64-patched.ktap")
        text = text[:text.index("ok 2 ")]
        ok, ev, _ = scenarios.check_selftest(text, scenario("selftest"))
        self.assertFalse(ok)

    def test_bail_out_fails(self):
        ok, ev, _ = scenarios.check_selftest("TAP version 13\nBail out!  cannot build hotplug_init.c\n",
                                          scenario("selftest"))
        self.assertFalse(ok)
        self.assertIn("Bail out", ev)


class TeardownFailure(unittest.TestCase):
    """A CPU whose teardown fails: one named error and the kexec panic, no
    BUG, no second kernel (v6; recorded on the 6.1 backport)."""

    LOG = "arm64-6.1-patched-teardown-fail.log"

    def check(self, text, timed_out=False):
        return scenarios.check_kexec_stopped(run_of(text, timed_out=timed_out),
                                             scenario("teardown-fail"))

    def test_patched_panic_passes_with_its_line(self):
        ok, ev, _ = self.check(load(self.LOG))
        self.assertTrue(ok, ev)
        self.assertIn("Failed to offline CPU2: sched:active failed with -11", ev)

    def test_base_bug_fails(self):
        ok, ev, _ = self.check(load("arm64-base-teardown-fail.log"))
        self.assertFalse(ok)
        self.assertIn("Failed to offline CPU2", ev)

    def test_wrong_cpu_fails(self):
        text = load(self.LOG).replace("offline CPU2:", "offline CPU3:")
        ok, ev, _ = self.check(text)
        self.assertFalse(ok)
        self.assertIn("wrong CPU or state", ev)

    def test_no_panic_fails(self):
        text = "\n".join(l for l in load(self.LOG).splitlines() if scenarios.KEXEC_PANIC not in l)
        ok, ev, _ = self.check(text)
        self.assertFalse(ok)
        self.assertIn("no 'Kernel panic", ev)

    def test_hang_after_the_error_fails(self):
        ok, ev, _ = self.check(load(self.LOG), timed_out=True)
        self.assertFalse(ok)
        self.assertIn("timeout", ev)


class LoadRefused(unittest.TestCase):
    """dcc-serialize: hvc_dcc holds CPUs online; kexec must refuse the load."""

    def check(self, text, **kw):
        sc = scenario("dcc-serialize")
        return sc.check(run_of(text, **kw), sc)

    def test_patched_refuses_the_load(self):
        ok, ev, _ = self.check(load("arm64-patched-dcc-serialize.log"))
        self.assertTrue(ok, ev)
        self.assertIn("Can't kexec: CPUs cannot be taken offline", ev)
        self.assertIn("kexec_file_load: Operation not supported", ev)

    def test_base_goes_ahead_and_bugs(self):
        ok, ev, _ = self.check(load("arm64-base-dcc-serialize.log"))
        self.assertFalse(ok)
        self.assertIn(scenario("dcc-serialize").fail_signature, ev)
        self.assertIn("Failed to offline CPU1 - error=-16", ev)
        self.assertIn("kernel BUG at", ev)

    def test_no_driver_no_verdict(self):
        text = load("arm64-patched-dcc-serialize.log").replace(scenarios.DCC_NOTICE, "")
        ok, ev, _ = self.check(text)
        self.assertFalse(ok)
        self.assertIn("did not probe", ev)
        self.assertNotIn(scenario("dcc-serialize").fail_signature, ev)

    def test_a_second_kernel_is_a_failure(self):
        text = load("arm64-patched-dcc-serialize.log")
        text = text.replace("Can't kexec", "no word").replace("LAB: error: kexec_file_load: Operation not supported\n", "")
        text += "[    0.000000] Booting Linux on physical CPU 0x0000000000 [0x411fd070]\n" \
                "LAB: boot gen=1 cpu=0 online=0-3 possible=0-3 reboot_cpu=0 hwid=- hwids=-\n"
        ok, ev, _ = self.check(text)
        self.assertFalse(ok)
        self.assertIn("kexec went ahead", ev)
        self.assertIn("generation 1 booted", ev)

    def test_silence_is_a_failure(self):
        text = load("arm64-patched-dcc-serialize.log").replace("Can't kexec", "no word")
        ok, ev, _ = self.check(text)
        self.assertFalse(ok)
        self.assertIn("no 'Can't kexec", ev)


class Ppc64le(unittest.TestCase):
    """Recorded on ppc64le pseries (SLOF, TCG), patched kernel: CPUs 2-3
    offline before kexec, woken by wake_offline_cpus()."""

    LOG = "ppc64le-patched-offline-before-kexec.log"

    def test_prom_init_banner_is_not_a_generation(self):
        # prom_init prints "Preparing to boot Linux version ..." before the
        # kernel's own "Linux version" banner; a kexec'd kernel does not.
        log = parser.parse(load(self.LOG))
        self.assertEqual([g.boot["gen"] for g in log.generations], ["0", "1"])

    def test_offline_before_kexec_passes(self):
        ok, ev, _ = scenarios.check_kexec(run_of(load(self.LOG)), scenario("offline-before-kexec"))
        self.assertTrue(ok, ev)
        self.assertIn("2 kernels booted with 4/4", ev)

    def test_stuck_processor_fails(self):
        text = load(self.LOG).replace("LAB: done gen=1", "[    1.5] Processor 2 is stuck.\nLAB: done gen=1")
        ok, ev, _ = scenarios.check_kexec(run_of(text), scenario("offline-before-kexec"))
        self.assertFalse(ok)
        self.assertIn("Processor 2 is stuck", ev)

    def test_teardown_after_machine_kexec_is_inside_the_window(self):
        # Recorded on base: the storm took CPU 2 down after lab_jump, then
        # wake_offline_cpus() hit WARN_ON(add_cpu()).
        g = parser.parse(load("ppc64le-base-window-after-jump.log")).generations[0]
        ops, refused, end = g.window()
        self.assertEqual(end, "lab_jump")
        self.assertEqual([(e.name, e.args.get("cpu")) for e in ops], [("lab_down_start", "2")])
        # wake_offline_cpus()' own bring-ups are not counted.
        g = parser.parse(load(self.LOG)).generations[0]
        self.assertEqual(g.window()[0], [])

    def test_hardware_ids_come_from_the_guest(self):
        log = parser.parse(load(self.LOG))
        # The kexec'd kernel numbers the CPUs in the reverse order.
        self.assertEqual(log.generations[1].boot["hwids"], "3,2,1,0")
        g = parser.Generation(0, boot={"online": "0-3", "hwids": "0,8,16,24"})
        self.assertEqual(scenarios.hw_id(g, 2, 4), 16)
        self.assertEqual(scenarios.hw_id(g, 0, 4), 0)


if __name__ == "__main__":
    unittest.main()
