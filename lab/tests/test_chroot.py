"""make static on the bases an arch compiles in a chroot (chroot_bases in
lab/arch/*.conf): kernel.make_cmd() and check_series.py making the chroot
only when it compiles such a base (no chroot, no root, no download)."""

import importlib.util
import os
import stat
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from labtool import arch, kernel  # noqa: E402
from labtool.util import BUILD, ROOT, ConfigError, LabError  # noqa: E402


def check_series():
    spec = importlib.util.spec_from_file_location("check_series", os.path.join(ROOT, "scripts", "check_series.py"))
    cs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cs)
    return cs


class MakeCmd(unittest.TestCase):
    def setUp(self):
        self.la = arch.load("loongarch64")

    def split(self, cmd):
        """(the wrapper before make, the directories bound, make's command line)."""
        root = kernel.chroot_dir(self.la)
        return cmd[:cmd.index(root)], cmd[cmd.index(root) + 1:cmd.index("--")], cmd[cmd.index("--") + 1:]

    def test_loongarch_6_1_is_compiled_with_trixie_gcc_in_the_chroot(self):
        self.assertIn("6.1", self.la.static_bases)
        self.assertEqual(self.la.chroot_bases, ["6.1"])
        self.assertEqual(self.la.chroot_suite, "trixie")
        self.assertIn("gcc-loongarch64-linux-gnu", self.la.chroot_packages)
        wrap, binds, make = self.split(kernel.make_cmd("/t", "/o", self.la, "prepare", base="6.1"))
        self.assertEqual(wrap[:4], ["unshare", "--mount", "--propagation", "private"])
        self.assertIn("chroot", wrap[wrap.index("-c") + 1])
        self.assertEqual(make[:6], ["make", "-s", "-C", "/t", "O=/o", "ARCH=loongarch"])
        self.assertIn("CROSS_COMPILE=loongarch64-linux-gnu-", make)
        # No ccache in the chroot: the compiler alone.
        self.assertIn("CC=loongarch64-linux-gnu-gcc", make)
        self.assertFalse([a for a in make if a.startswith("LLVM=")])
        self.assertEqual(make[-2:], ["-j%d" % (os.cpu_count() or 2), "prepare"])

    def test_the_project_tree_and_objects_are_bound_at_their_own_paths(self):
        _, binds, _ = self.split(kernel.make_cmd("/t", "/o", self.la, base="6.1"))
        self.assertEqual(sorted(binds), sorted({ROOT, BUILD, "/t", "/o"} - (
            {BUILD} if BUILD.startswith(ROOT + os.sep) else set())))
        # Inside the project: bound with it, not on their own.
        tree, obj = os.path.join(ROOT, "build", "tree", "6.1-compile"), os.path.join(BUILD, "compile", "6.1", "x")
        _, binds, make = self.split(kernel.make_cmd(tree, obj, self.la, "kernel/cpu.o", jobs=1, base="6.1"))
        self.assertNotIn(tree, binds)
        self.assertNotIn(obj, binds)
        self.assertIn(ROOT, binds)
        self.assertEqual(make[3:5], [tree, f"O={obj}"])
        self.assertEqual(make[-2:], ["-j1", "kernel/cpu.o"])

    def test_outermost_keeps_no_directory_inside_another(self):
        self.assertEqual(kernel._outermost(["/a/b", "/a", "/ab", "/a/b/c", "/a/"]), ["/a", "/ab"])

    def test_other_bases_and_the_lab_kernels_keep_clang(self):
        for base in ("7.3", "6.12", None):
            cmd = kernel.make_cmd("/t", "/o", self.la, "olddefconfig", base=base)
            self.assertEqual(cmd[0], "make", base)
            self.assertIn("LLVM=-19", cmd)
            self.assertFalse(kernel.uses_chroot(self.la, base))

    def test_other_arches_never_use_a_chroot(self):
        for name in ("arm64", "x86_64"):
            cmd = kernel.make_cmd("/t", "/o", arch.load(name), "olddefconfig", base="6.1")
            self.assertEqual(cmd[0], "make", name)
            self.assertFalse([a for a in cmd if a.startswith("LLVM=")])

    def test_the_chroot_is_under_the_cache(self):
        with mock.patch.dict(os.environ, {"LAB_CACHE": "/c"}):
            self.assertEqual(kernel.chroot_dir(self.la), "/c/chroot/loongarch64")
        with mock.patch.dict(os.environ, {"LAB_CACHE": ""}):
            self.assertEqual(kernel.chroot_dir(self.la), os.path.join(ROOT, "cache", "chroot", "loongarch64"))

    def test_chroot_bases_need_the_rest(self):
        with self.assertRaisesRegex(ConfigError, "chroot_suite"):
            arch.Arch("x", {"chroot_bases": "6.1", "chroot_suite": "trixie"})

    def test_the_wrapper_binds_then_runs_make_in_the_chroot(self):
        """kernel.IN_CHROOT with mount and chroot replaced by scripts that
        print what they were given."""
        with tempfile.TemporaryDirectory() as d:
            bin_ = os.path.join(d, "bin")
            os.makedirs(bin_)
            for tool in ("mount", "chroot"):
                p = os.path.join(bin_, tool)
                with open(p, "w") as f:
                    f.write(f'#!/bin/sh\necho {tool} "$@"\n')
                os.chmod(p, os.stat(p).st_mode | stat.S_IXUSR)
            r = os.path.join(d, "root")
            out = subprocess.run(["sh", "-c", kernel.IN_CHROOT, "in-chroot", r, "/p", "/q/r", "--",
                                  "make", "-C", "/p/t"], capture_output=True, text=True,
                                 env=dict(os.environ, PATH=bin_ + ":/usr/bin:/bin"))
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(out.stdout.splitlines(), [
                f"mount --bind /p {r}/p", f"mount --bind /q/r {r}/q/r", f"chroot {r} make -C /p/t"])
            self.assertTrue(os.path.isdir(os.path.join(r, "q", "r")))

    def test_make_chroot_needs_root(self):
        with mock.patch.object(os, "geteuid", return_value=1000), \
                mock.patch.object(subprocess, "call") as call:
            with self.assertRaisesRegex(LabError, "needs root"):
                kernel.make_chroot(self.la)
        call.assert_not_called()

    def test_make_chroot_runs_the_script_with_the_conf(self):
        with mock.patch.object(os, "geteuid", return_value=0), \
                mock.patch.object(subprocess, "call", return_value=0) as call:
            self.assertEqual(kernel.make_chroot(self.la), kernel.chroot_dir(self.la))
        cmd = call.call_args[0][0]
        self.assertEqual(cmd[:2], ["sh", os.path.join(ROOT, "scripts", "make-chroot.sh")])
        self.assertEqual(cmd[2:], ["loongarch64", "trixie", *self.la.chroot_packages])
        with mock.patch.object(os, "geteuid", return_value=0), \
                mock.patch.object(subprocess, "call", return_value=1):
            with self.assertRaisesRegex(LabError, "could not make the trixie chroot"):
                kernel.make_chroot(self.la)


class Stop(Exception):
    pass


class CheckSeries(unittest.TestCase):
    """check_bisect() makes the chroot for the arch that needs it, when it
    compiles that arch, and not otherwise (make check: 6.1 on x86_64)."""

    def bisect(self, arches):
        cs = check_series()
        with tempfile.TemporaryDirectory() as wt, tempfile.TemporaryDirectory() as build, \
                mock.patch.object(cs, "BUILD", build), \
                mock.patch.object(cs, "_worktree", return_value=wt), \
                mock.patch.object(cs, "git", return_value="kernel/cpu.c\narch/loongarch/kernel/machine_kexec.c\n"), \
                mock.patch.object(cs, "_make", side_effect=Stop) as make, \
                mock.patch.object(kernel, "make_chroot", side_effect=LabError("loongarch64: no chroot")) as mk:
            try:
                bad, _ = cs.check_bisect("/tree", "6.1", ["c1"], ["kernel/cpu.c",
                                         "arch/loongarch/kernel/machine_kexec.c"], arches)
            except Stop:
                bad = None
        return bad, mk, make

    def test_x86_64_only_makes_no_chroot(self):
        bad, mk, make = self.bisect(("x86_64",))
        mk.assert_not_called()
        self.assertTrue(make.called)

    def test_loongarch64_on_6_1_makes_it_and_reports_a_failure(self):
        bad, mk, make = self.bisect(("loongarch64",))
        mk.assert_called_once()
        self.assertEqual(mk.call_args[0][0].name, "loongarch64")
        self.assertEqual(bad, ["loongarch64: no chroot"])
        make.assert_not_called()


if __name__ == "__main__":
    unittest.main()
