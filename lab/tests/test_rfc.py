"""The rfc kernel in the lab: bench table and plot, torture checks (no VM)."""

import os
import sys
import unittest
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from labtool import bench, kernel, parser, scenarios, torture  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def storm(gens):
    return scenarios.select(["kexec-storm"], iterations=1, gens=gens, smp=8)[0]


def recorded(text=None):
    if text is None:
        with open(os.path.join(DATA, "arm64-rfc-kexec-storm-smp8.log"), errors="replace") as f:
            text = f.read()
    return scenarios.Run(parser.parse(text), False, 78.0, "x.log", 8)


class Kernels(unittest.TestCase):
    def test_rfc_branch(self):
        self.assertEqual(kernel.REVS, {"base": "base", "patched": "series", "rfc": "rfc"})
        # make check builds base and patched only.
        self.assertEqual(kernel.KERNELS, ("base", "patched"))

    def test_rfc_dir(self):
        self.assertTrue(kernel.rfc_dir("7.3").endswith(os.path.join("rfc", "fast-teardown")))
        # Written on v5 on 6.12, rebased onto v6 on 7.3: no RFC on the backports.
        self.assertIsNone(kernel.rfc_dir("6.12"))
        self.assertIsNone(kernel.rfc_dir("6.1"))

    def test_kernels_per_arch(self):
        self.assertEqual(bench.kernels_for(SimpleNamespace(name="arm64")), ("base", "patched", "rfc"))
        self.assertEqual(bench.kernels_for(SimpleNamespace(name="riscv64")), ("base", "patched", "rfc"))
        self.assertEqual(bench.kernels_for(SimpleNamespace(name="x86_64")), ("base", "patched"))


class Table(unittest.TestCase):
    rows = [bench.summarize("arm64", 8, {"base": [500.0, 490.0, 520.0], "patched": [480.0, 510.0, 530.0],
                                         "rfc": [50.0, 40.0, 60.0]}),
            bench.summarize("x86_64", 2, {"base": [15.0, 16.0, 14.0], "patched": [15.0, 15.0, 15.0]})]

    def test_medians_and_ratios(self):
        t = bench.table(self.rows).splitlines()
        self.assertIn("| patched/base | rfc/base |", t[0])
        self.assertEqual(t[2], "| arm64 | 8 | 500.0 (490.0-520.0) | 510.0 (480.0-530.0) | 50.0 (40.0-60.0) "
                               "| 1.02 | 0.10 |")

    def test_small_ratio_keeps_a_digit(self):
        r = bench.summarize("arm64", 8, {"base": [991.5], "patched": [911.4], "rfc": [1.9]})
        self.assertTrue(bench.table([r]).endswith("| 0.92 | 0.002 |"))

    def test_no_rfc_is_na(self):
        t = bench.table(self.rows).splitlines()
        self.assertEqual(t[3], "| x86_64 | 2 | 15.0 (14.0-16.0) | 15.0 (15.0-15.0) | n/a | 1.00 | n/a |")

    def test_plot_has_one_curve_per_kernel(self):
        data, script = bench.plot_script(self.rows, "/tmp/b.dat", "/tmp/b.png")
        self.assertEqual(script.count("yerrorlines"), 5)
        self.assertIn("title 'arm64 rfc'", script)
        self.assertNotIn("x86_64 rfc", script)
        self.assertIn("8 50.000 40.000 60.000", data)
        self.assertIn("set xrange [1.6:10]", script)

    def test_plot_16(self):
        rows = [bench.summarize("arm64", 16, {"base": [1.0], "patched": [1.0], "rfc": [1.0]})]
        self.assertIn("set xrange [1.6:20]", bench.plot_script(rows, "/tmp/b.dat", "/tmp/b.png")[1])


class Interval(unittest.TestCase):
    def test_arm64_lab_jump(self):
        g = recorded().log.generations[0]
        # "Starting new kernel" at 9.997793, lab_jump at 10.025163.
        self.assertAlmostEqual(bench.shutdown_ms(g), 27.370, places=3)

    def test_riscv_bye(self):
        text = ("[   17.100000] kexec_core: Starting new kernel\n"
                "[   17.200000] Will call new kernel at 80200000 from hart id 1\n"
                "[   17.256688] Bye...\n")
        g = parser.parse(text).generations[0]
        self.assertAlmostEqual(bench.shutdown_ms(g), 156.688, places=3)

    def test_missing_start(self):
        g = parser.parse("[    1.000000] Bye!\n").generations[0]
        self.assertIsNone(bench.shutdown_ms(g))


def before_jump(line):
    """The recorded 8-vCPU rfc chain with line added right before its first jump."""
    with open(os.path.join(DATA, "arm64-rfc-kexec-storm-smp8.log"), errors="replace") as f:
        text = f.read()
    i = text.index("[   10.025163] lab_jump:")
    return text[:i] + line + "\n" + text[i:]


class Torture(unittest.TestCase):
    def test_recorded_chain_passes(self):
        ok, evidence, n = torture.check_session(recorded(), storm(2))
        self.assertTrue(ok, evidence)
        self.assertEqual(n, 2)
        self.assertEqual(evidence, "2 kexec(s), 3 kernels booted with 8/8 CPUs online")

    def test_failures_before_the_jump(self):
        # (line added before the first jump, words the evidence must name)
        for line, words in (
                ("[   10.000000] lab_teardown: (smp_shutdown_nonboot_cpus+0x0/0x10)",
                 "smp_shutdown_nonboot_cpus"),
                ("[   10.000000] lab_down_start: (sched_cpu_deactivate+0x0/0x10) cpu=3",
                 "inside the window"),
                ("[   10.000000] WARNING: CPU: 1 PID: 1 at kernel/cpu.c:1 x+0x0/0x10", "splat")):
            with self.subTest(line=line):
                ok, evidence, n = torture.check_session(recorded(before_jump(line)), storm(2))
                self.assertFalse(ok)
                self.assertIn(words, evidence)
                self.assertEqual(n, 2)

    def test_hotplug_teardown_is_fine_on_v5(self):
        text = before_jump("[   10.000000] lab_teardown: (smp_shutdown_nonboot_cpus+0x0/0x10)")
        ok, evidence, n = torture.check_session(recorded(text), storm(2), "patched")
        self.assertTrue(ok, evidence)


class Alternate(unittest.TestCase):
    """torture.main() with several kernels, QEMU replaced by recordings."""

    def setUp(self):
        import tempfile
        self.tmp = tempfile.mkdtemp()
        self.saved = (bench.prepare, torture.qemu.boot, torture.BUILD, torture.runner.snapshot_note)
        with open(os.path.join(DATA, "arm64-rfc-kexec-storm-smp8.log"), errors="replace") as f:
            self.good = f.read()
        self.calls = []
        self.appends = []
        bad = {"patched"}

        def boot(arch, image, initrd, smp, append, logfile, timeout, icount=None):
            self.calls.append((image, icount))
            self.appends.append(append)
            text = self.good
            if image in bad and len([c for c in self.calls if c[0] == image]) == 2:
                text = before_jump("[   10.000000] WARNING: CPU: 1 PID: 1 at kernel/cpu.c:1 x+0x0/0x10")
            return text, 1.0, False

        bench.prepare = lambda arch, base, rfc=True: {k: {"image": k, "initrd": "", "tools": False} for k in ("rfc", "patched")}
        torture.qemu.boot = boot
        torture.BUILD = self.tmp
        torture.runner.snapshot_note = lambda arch, img, logfile: ""

    def tearDown(self):
        import shutil
        bench.prepare, torture.qemu.boot, torture.BUILD, torture.runner.snapshot_note = self.saved
        shutil.rmtree(self.tmp)

    def test_sessions_alternate_and_a_failure_stops_one_kernel(self):
        from labtool import arch as archmod
        arch = archmod.load("arm64")
        rc = torture.main(arch, "7.3", 8, 6, 2, 0, ("rfc", "patched"), icount=0)
        self.assertEqual(rc, 1)
        # rfc, patched, rfc, patched (fails), rfc: then rfc has its 6.
        self.assertEqual([c[0] for c in self.calls], ["rfc", "patched", "rfc", "patched", "rfc"])
        self.assertTrue(all(c[1] == 0 for c in self.calls))
        with open(os.path.join(self.tmp, "torture", "arm64-rfc-patched-smp8.txt")) as f:
            out = f.read()
        self.assertIn("torture arm64 rfc smp=8 (icount shift=0", out)
        self.assertIn(": 6 kexecs in 3 sessions", out)
        self.assertIn("patched smp=8 (icount shift=0: one host thread, vCPUs interleaved, guest clock 2^0 ns per "
                      "instruction): 4 kexecs in 2 sessions, the failed one included", out)
        self.assertIn("FAILED in session 2", out)

    def test_trace_events_follow_the_base(self):
        # riscv64 on 7.3 boots without the lab's kprobe events (no_trace),
        # in torture as in the scenarios; arm64 keeps them.
        from labtool import arch as archmod
        torture.main(archmod.load("riscv64"), "7.3", 8, 2, 2, 0, ("rfc",), icount=None)
        self.assertTrue(self.appends and not any("kprobe_event=" in a for a in self.appends))
        self.appends.clear()
        torture.main(archmod.load("arm64"), "7.3", 8, 2, 2, 0, ("rfc",), icount=0)
        self.assertTrue(self.appends and all("kprobe_event=" in a for a in self.appends))

    def test_bad_kernel_list(self):
        arch = SimpleNamespace(name="arm64", qemu_args=[])
        with self.assertRaises(torture.LabError):
            torture.main(arch, "7.3", 8, 6, 2, 0, ("rfc", "rfc"))


if __name__ == "__main__":
    unittest.main()
