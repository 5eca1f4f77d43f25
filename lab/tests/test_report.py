"""lab.py report: the docs page, the README's headline table, KTAP."""

import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from labtool import report, runner  # noqa: E402
from labtool.util import LabError  # noqa: E402

import lab as labcli  # noqa: E402

RUN = {"date": "2026-12-02 18:00 UTC", "command": "make check", "host_cpus": 2, "wall": "40m00s"}


def results():
    R = runner.Result
    return [R("x86_64", "7.3", "base", "window", "fail", "fail", "1/4 runs failed; run 4: hit", 4, 1,
              emulator="QEMU emulator version 7.2.22", firmware="SeaBIOS 1.16.2-1"),
            R("x86_64", "7.3", "patched", "window", "pass", "pass", "0/2 runs failed", 2, 0),
            R("x86_64", "7.3", "base", "kexec-storm", "any", "fail", "1/2 runs failed", 2, 1),
            R("x86_64", "7.3", "patched", "kexec-storm", "pass", "fail", "1/2 runs failed", 2, 1),
            R("x86_64", "7.3", "base", "kexec-tools-l", "pass", "skip", "no kexec-tools"),
            R("x86_64", "7.3", "patched", "kexec-tools-l", "pass", "skip", "no kexec-tools")]


class Pages(unittest.TestCase):
    def test_page_has_run_versions_and_closing_line(self):
        p = report.page(RUN, results(), "Lab results: check")
        self.assertIn("2026-12-02 18:00 UTC, `make check`, 2 host CPUs, wall time 40m00s", p)
        self.assertIn("QEMU emulator version 7.2.22, SeaBIOS 1.16.2-1", p)
        self.assertIn("MISMATCH x86_64 7.3 patched kexec-storm", p)
        self.assertIn("Closing line: **2 passed, 1 failed, 2 skipped**", p)

    def test_headline_names_base_failures_and_patched_ones(self):
        h = report.headline(RUN, results(), "docs/results/check.md")
        self.assertIn("window (1/4), kexec-storm (1/2, info)", h)
        self.assertIn("1/2 scenarios passed; failed: kexec-storm (1/2)", h)
        self.assertIn("2 as expected, 1 not, 2 skipped", h)

    def test_ktap_counts_what_the_closing_line_counts(self):
        k = report.ktap(results())
        self.assertTrue(k.startswith("KTAP version 1\n1..5\n"))
        self.assertIn("not ok 3 x86_64_7.3_patched_kexec-storm", k)
        self.assertIn("# SKIP no kexec-tools", k)
        self.assertIn("# Totals: pass:2 fail:1 xfail:0 xpass:0 skip:2 error:0", k)

    def test_readme_markers(self):
        text = f"a\n{report.BEGIN}\nold\n{report.END}\nb\n"
        self.assertEqual(report.replace_between(text, "new", "R"), f"a\n{report.BEGIN}\nnew\n{report.END}\nb\n")
        with self.assertRaises(LabError):
            report.replace_between("no markers", "new", "R")

    def test_report_command_writes_page_and_readme(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "results.json")
            runner.save(results(), path, RUN)
            readme = os.path.join(d, "README.md")
            with open(readme, "w") as f:
                f.write(f"# x\n{report.BEGIN}\n{report.END}\n")
            rc = labcli.main(["report", "--results", path, "--name", "check", "--docs",
                              os.path.join(d, "docs", "results"), "--readme", readme])
            self.assertEqual(rc, 0)
            self.assertIn("Closing line", open(os.path.join(d, "docs", "results", "check.md")).read())
            self.assertIn("(docs/results/check.md)", open(readme).read())

    def test_closing_line_counts_known_failures(self):
        rs = results()
        rs[1].known = {"x86_resets": 2}
        self.assertEqual(report.closing_line(rs), "2 passed, 1 failed, 2 skipped; failed runs of a known "
                         "kind: 2 x86 reset of a kexec'd kernel (real BSP woken by a broadcast IPI)")

    def test_missing_results_is_an_error(self):
        self.assertEqual(labcli.main(["report", "--results", "/nonexistent/results.json"]), 2)


if __name__ == "__main__":
    unittest.main()
