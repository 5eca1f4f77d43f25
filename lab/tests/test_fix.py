"""Fixes outside the series (fixes/<name>/, lab.py run --fix): no VM."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from labtool import arch as archmod  # noqa: E402
from labtool import kernel, qemu, scenarios  # noqa: E402
from labtool.util import ConfigError  # noqa: E402

FIX = "powerpc-optprobes"


class Select(unittest.TestCase):
    def test_default_is_the_series(self):
        names = [s.name for s in scenarios.select([])]
        self.assertNotIn("optprobe-storm", names)
        self.assertIn("kexec-storm", names)

    def test_fix_selects_its_scenarios(self):
        self.assertEqual([s.name for s in scenarios.select([], fix=FIX)], ["optprobe-storm"])
        self.assertEqual([s.name for s in scenarios.select(["optprobe-storm"], fix=FIX)], ["optprobe-storm"])

    def test_no_mixing(self):
        # A scenario's expectations hold for one 'patched' kernel only.
        with self.assertRaisesRegex(ConfigError, "--fix powerpc-optprobes"):
            scenarios.select(["optprobe-storm"])
        with self.assertRaisesRegex(ConfigError, "without --fix"):
            scenarios.select(["kexec-storm"], fix=FIX)
        with self.assertRaisesRegex(ConfigError, "no scenario shows fix 'nope'"):
            scenarios.select([], fix="nope")


class OptprobeStorm(unittest.TestCase):
    def setUp(self):
        self.sc = scenarios.select([], fix=FIX, iterations=6)[0]

    def test_expectations(self):
        self.assertEqual(self.sc.arches, ("ppc64le",))
        # The base shows the bug in some runs only: every run is counted.
        self.assertEqual(self.sc.expected("ppc64le", "base"), "any")
        self.assertEqual(self.sc.expected("ppc64le", "patched"), "pass")
        self.assertEqual(self.sc.iterations, 6)

    def test_its_setting_wins(self):
        # ppc64le.conf turns kprobe optimization off for every scenario;
        # sysctl.* parameters are applied in order, so the scenario's
        # later one turns it back on.
        a = archmod.load("ppc64le")
        line = qemu.cmdline(a, " ".join([scenarios.guest_params(self.sc), self.sc.append]))
        off = line.index("sysctl.debug.kprobes-optimization=0")
        on = line.index("sysctl.debug.kprobes-optimization=1")
        self.assertLess(off, on)
        self.assertIn("p:lab/lab_up_start,smpboot_create_threads", line)


class Files(unittest.TestCase):
    def test_fix_is_there(self):
        self.assertIn(FIX, kernel.fix_names())
        d = kernel.fix_dir(FIX)
        self.assertTrue(os.path.isdir(d))
        patch = [f for f in os.listdir(d) if f.startswith("0001-")]
        self.assertEqual(len(patch), 1)
        with open(os.path.join(d, patch[0])) as f:
            text = f.read()
        self.assertIn("arch/powerpc/kernel/optprobes_head.S", text)
        self.assertIn("Fixes: ", text)


if __name__ == "__main__":
    unittest.main()
