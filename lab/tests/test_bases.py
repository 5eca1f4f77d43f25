"""Bases: which directory holds which series, where a base's tarball is,
and the exact version the lab records (no kernel build, no download)."""

import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from labtool import kernel, report, runner  # noqa: E402
from labtool.util import ROOT  # noqa: E402

TREE_SH = os.path.join(ROOT, "scripts", "tree.sh")
FETCH_SH = os.path.join(ROOT, "scripts", "fetch-source.sh")


def read(path):
    with open(path) as f:
        return f.read()


def makefile_var(name):
    text = read(os.path.join(ROOT, "Makefile")).replace("\\\n", " ")
    return re.search(rf"^{name}\s*[:?]?=\s*(.*)$", text, re.M).group(1).strip()


class Layout(unittest.TestCase):
    def test_one_series_base_everywhere(self):
        self.assertEqual(kernel.SERIES_BASE, "7.3")
        self.assertEqual(makefile_var("SERIES_BASE"), kernel.SERIES_BASE)
        self.assertEqual(makefile_var("BASE"), "$(SERIES_BASE)")
        sh = re.search(r"^SERIES_BASE=(\S+)$", read(TREE_SH), re.M).group(1)
        self.assertEqual(sh, kernel.SERIES_BASE)

    def test_series_dirs(self):
        self.assertEqual(kernel.series_dir("7.3"), os.path.join(ROOT, "series"))
        self.assertEqual(kernel.series_dir("6.12"), os.path.join(ROOT, "backports", "6.12"))
        self.assertEqual(kernel.series_dir("6.1"), os.path.join(ROOT, "backports", "6.1"))
        self.assertEqual(kernel.BASES[0], kernel.SERIES_BASE)
        # The RFC is on top of the series on 7.3.
        self.assertEqual(kernel.RFC_DIRS, {kernel.SERIES_BASE: "fast-teardown"})
        self.assertEqual(makefile_var("RFC_BASE"), kernel.SERIES_BASE)

    def test_ci_runs_name_known_bases(self):
        runs = makefile_var("CHECK_RUNS").split()
        for r in runs + makefile_var("FULL_RUNS").split():
            self.assertIn(r.split(":")[0], kernel.BASES, r)
        self.assertTrue(any(r.startswith("7.3:arm64") for r in runs))
        # Every arch the lab boots runs on 7.3 in check-full.
        for arch in ("x86_64", "arm64", "riscv64", "arm", "ppc64le"):
            self.assertIn(f"7.3:{arch}", makefile_var("FULL_RUNS").split(), arch)
        self.assertTrue(any(r.startswith("6.12:") for r in makefile_var("FULL_RUNS").split()))
        # 6.1 runs in check-full only.
        self.assertTrue(any(r.startswith("6.1:") for r in makefile_var("FULL_RUNS").split()))


def git(d, *args, **kw):
    return subprocess.run(["git", "-C", d, *args], check=True, capture_output=True, text=True, **kw)


class Versions(unittest.TestCase):
    def tree(self, d, extraversion=""):
        os.makedirs(d)
        with open(os.path.join(d, "Makefile"), "w") as f:
            f.write("# SPDX-License-Identifier: GPL-2.0\nVERSION = 7\nPATCHLEVEL = 3\nSUBLEVEL = 4\n"
                    f"EXTRAVERSION ={extraversion}\nNAME = Baby Opossum Posse\n")
        git(d, "init", "-q")
        git(d, "add", "Makefile")
        git(d, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "base")
        git(d, "tag", "base")

    def test_tree_source_reads_makefile_and_recorded_package(self):
        with tempfile.TemporaryDirectory() as d:
            t = os.path.join(d, "7.3")
            self.tree(t)
            git(t, "config", "lab.package", "linux-source-7.3")
            git(t, "config", "lab.debianVersion", "7.3.4-1~bpo13+1")
            src = kernel.tree_source(t)
        self.assertEqual(src, {"kernel_version": "7.3.4", "source_package": "linux-source-7.3",
                               "source_version": "7.3.4-1~bpo13+1"})
        self.assertEqual(kernel.describe(src), "Linux 7.3.4 (Debian linux-source-7.3 7.3.4-1~bpo13+1)")

    def test_user_tree_has_no_package(self):
        with tempfile.TemporaryDirectory() as d:
            t = os.path.join(d, "validate")
            self.tree(t, " -rc2")
            src = kernel.tree_source(t)
        self.assertEqual(src, {"kernel_version": "7.3.4-rc2", "source_package": "", "source_version": ""})

    def test_report_header_and_json_carry_the_version(self):
        R = runner.Result
        rs = [R("x86_64", "7.3", k, "window", "pass", "pass", "ok", kernel_version="7.3.4",
                source_package="linux-source-7.3", source_version="7.3.4-1~bpo13+1")
              for k in ("base", "patched")]
        self.assertIn("== x86_64, Linux 7.3.4 (Debian linux-source-7.3 7.3.4-1~bpo13+1): ",
                      report.text_table(rs))
        self.assertIn("## x86_64, Linux 7.3.4 (Debian linux-source-7.3 7.3.4-1~bpo13+1)", report.markdown(rs))
        for r in rs:
            r.base = "validate-7.3"
        self.assertIn("== x86_64, validate-7.3: Linux 7.3.4 (Debian", report.text_table(rs))
        with tempfile.TemporaryDirectory() as d:
            runner.save(rs, os.path.join(d, "results.json"))
            row = json.loads(read(os.path.join(d, "results.json")))["results"][0]
        self.assertEqual((row["kernel_version"], row["source_package"], row["source_version"]),
                         ("7.3.4", "linux-source-7.3", "7.3.4-1~bpo13+1"))


class Tarball(unittest.TestCase):
    """scripts/tree.sh source: the fetched tarball (LAB_CACHE) comes first."""

    def test_cached_tarball_and_its_version(self):
        with tempfile.TemporaryDirectory() as d:
            vdir = os.path.join(d, "src", "linux-source-9.9_9.9.1-1~bpo13+1")
            os.makedirs(vdir)
            with open(os.path.join(vdir, "linux-source-9.9.tar.xz"), "w") as f:
                f.write("x" * 10)
            with open(os.path.join(vdir, "version"), "w") as f:
                f.write("9.9.1-1~bpo13+1\n")
            link = os.path.join(d, "src", "linux-source-9.9.tar.xz")
            os.symlink("linux-source-9.9_9.9.1-1~bpo13+1/linux-source-9.9.tar.xz", link)
            env = dict(os.environ, LAB_CACHE=d)
            out = subprocess.run(["sh", TREE_SH, "source", "9.9"], env=env, capture_output=True,
                                 text=True, check=True).stdout
            info = dict(l.split("=", 1) for l in out.splitlines())
            self.assertEqual(info["tarball"], link)
            self.assertEqual(info["debian_version"], "9.9.1-1~bpo13+1")
            self.assertIn(" 10 ", info["id"])
            # Another file behind the link: another id, so the tree is made again.
            os.utime(os.path.join(vdir, "linux-source-9.9.tar.xz"), (1, 1))
            out2 = subprocess.run(["sh", TREE_SH, "source", "9.9"], env=env, capture_output=True,
                                  text=True, check=True).stdout
            self.assertNotEqual(out, out2)

    def test_missing_tarball_says_make_deps(self):
        with tempfile.TemporaryDirectory() as d:
            r = subprocess.run(["sh", TREE_SH, "source", "9.8"], env=dict(os.environ, LAB_CACHE=d),
                               capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("make deps", r.stderr)


class ArchiveUri(unittest.TestCase):
    """fetch-source.sh takes the archive from the machine's bookworm entry."""

    def uri(self, text):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "debian.sources"), "w") as f:
                f.write(text)
            return subprocess.run(["sh", FETCH_SH, "--uri"], env=dict(os.environ, FETCH_SOURCES_DIR=d),
                                  capture_output=True, text=True)

    def test_bookworm_entry(self):
        r = self.uri("Types: deb\n# a comment\nURIs: http://mirror.example/debian\n"
                     "Suites: bookworm bookworm-updates\nComponents: main\n\n"
                     "Types: deb\nURIs: http://security.example/debian-security\n"
                     "Suites: bookworm-security\nComponents: main\n")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "http://mirror.example/debian"))

    def test_suite_must_be_bookworm_itself(self):
        r = self.uri("Types: deb\nURIs: http://security.example/debian-security\n"
                     "Suites: bookworm-security\nComponents: main\n\n"
                     "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\n"
                     "Enabled: no\nTypes: deb\nURIs: http://off.example/debian\nSuites: bookworm\n")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no deb822 entry for 'bookworm'", r.stderr)


if __name__ == "__main__":
    unittest.main()
