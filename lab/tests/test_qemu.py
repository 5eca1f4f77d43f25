"""qemu.py's vCPU snapshot, on a recorded one (no VM)."""

import os
import shutil
import sys
import tempfile
import unittest
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from labtool import qemu  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
REGS = os.path.join(DATA, "ppc64le-patched-rcpu-offline-stuck.log.regs")


class Snapshot(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.log = os.path.join(self.tmp, "x.log")
        shutil.copy(REGS, self.log + ".regs")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_where_without_symbols(self):
        # A ppc64le kexec'd kernel gave up on CPU 1 (hardware thread 2);
        # QEMU's CPU#2 was still spinning in the old kernel's kexec_wait.
        where = qemu.snapshot_summary(self.log, os.path.join(self.tmp, "no-vmlinux"), "nm")
        self.assertEqual(where, "CPU#0 0xc000000000084b98, CPU#1 0xc000000000084b98, "
                                "CPU#2 0xc00000000001fa10, CPU#3 0xc000000000084b98")

    def test_where_with_symbols(self):
        nm = os.path.join(self.tmp, "nm")
        with open(nm, "w") as f:
            f.write("#!/bin/sh\nprintf 'c00000000001fa00 T kexec_wait\\n"
                    "c00000000001fa34 t kexec_flag\\nc000000000084b80 T plpar_hcall_norets_notrace\\n'\n")
        os.chmod(nm, 0o755)
        where = qemu.snapshot_summary(self.log, "vmlinux", nm)
        self.assertIn("CPU#2 kexec_wait+0x10", where)
        self.assertIn("CPU#0 plpar_hcall_norets_notrace+0x18", where)

    def test_no_snapshot(self):
        os.unlink(self.log + ".regs")
        self.assertEqual(qemu.snapshot_summary(self.log, "vmlinux", "nm"), "")

    def test_triggers(self):
        self.assertTrue(any(m in "[   26.068241] Processor 1 is stuck." for m in qemu.SNAPSHOT_ON))
        self.assertTrue(any(m in "[   33.346435] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:"
                            for m in qemu.SNAPSHOT_ON))
        self.assertTrue(any(m in "[   45.843791] watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [kdevtmpfs:63]"
                            for m in qemu.SNAPSHOT_ON))



class Icount(unittest.TestCase):
    class Arch:
        name = "arm64"
        qemu_args = ["-machine", "virt", "-accel", "tcg"]

    def test_args(self):
        self.assertEqual(qemu.icount_args(self.Arch, None), [])
        self.assertEqual(qemu.icount_args(self.Arch, 0), ["-icount", "shift=0,sleep=on"])

    def test_bad_shift(self):
        with self.assertRaises(qemu.LabError):
            qemu.icount_args(self.Arch, 11)

    def test_arch_with_icount(self):
        # mips64el sets -icount in its .conf: a second one is refused.
        a = type("A", (), {"name": "mips64el", "qemu_args": ["-icount", "shift=auto"]})
        with self.assertRaises(qemu.LabError):
            qemu.icount_args(a, 0)


class TortureMode(unittest.TestCase):
    def test_per_arch_default(self):
        from labtool import arch as archmod
        # riscv64 livelocks under -icount (its .conf says why): make
        # torture runs it multi-threaded; arm64 takes the default, shift 0.
        self.assertEqual(archmod.load("riscv64").torture_icount, "off")
        self.assertEqual(archmod.load("arm64").torture_icount, "")


if __name__ == "__main__":
    unittest.main()


class TripleFaultStates(unittest.TestCase):
    """x86: what QEMU's cpu_reset log says of each vCPU after a triple fault."""

    LOG = ("CPU Reset (CPU 0)\nRAX=0 RBX=0\nRIP=000000000000fff0 RFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0\n"
           "Triple fault\n"
           "CPU Reset (CPU 0)\nRAX=0000000000000000 RBX=0000000000000000\n"
           "RIP=ffffffff81000110 RFL=00000046 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=1\nES =0000\n"
           "CPU Reset (CPU 1)\nRAX=0000000000000000 RBX=0000000000000000\n"
           "RIP=000000000009d000 RFL=00010002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0\nES =0000\n")

    def test_states_after_the_last_triple_fault(self):
        with tempfile.TemporaryDirectory() as d:
            log = os.path.join(d, "x.log")
            with open(log + ".qemu", "w") as f:
                f.write(self.LOG)
            with mock.patch.object(qemu, "_symbols", lambda v, nm: [(0xffffffff81000100, "stop_this_cpu")]):
                self.assertEqual(qemu.triple_fault_states(log, "vmlinux", "nm"),
                                 "CPU0 HLT=1 stop_this_cpu+0x10, CPU1 HLT=0 0x9d000")
            os.unlink(log + ".qemu")
            self.assertEqual(qemu.triple_fault_states(log, "vmlinux", "nm"), "")
