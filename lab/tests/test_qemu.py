"""qemu.py's vCPU snapshots and QMP handling, on recorded data and fakes (no VM)."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import unittest
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from labtool import qemu  # noqa: E402
from labtool.util import LabError  # noqa: E402

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


class TripleFaultStates(unittest.TestCase):
    """x86: each vCPU's state as saved when QEMU paused the VM at a triple fault."""

    REGS = ("after: Triple fault (QEMU paused the VM at the reset)\n"
            "CPU#0\nRAX=0000000000000000 RBX=0000000000000000\n"
            "RIP=ffffffff81000110 RFL=00000046 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=1\nES =0000\n"
            "CR0=80050033 CR2=0000000000000000 CR3=0000000001c0a000 CR4=00350ef0\n"
            "CPU#1\nRAX=0000000000000000 RBX=0000000000000000\n"
            "RIP=ffffffffa2e00110 RFL=00010002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0\nES =0000\n"
            "CR0=80050033 CR2=ffff88800009d000 CR3=0000000011a0e000 CR4=00350ef0\n")

    def test_each_vcpu(self):
        with tempfile.TemporaryDirectory() as d:
            log = os.path.join(d, "x.log")
            with open(log + ".regs", "w") as f:
                f.write(self.REGS)
            with mock.patch.object(qemu, "_symbols", lambda v, nm: [(0xffffffff81000100, "stop_this_cpu")]):
                self.assertEqual(qemu.triple_fault_states(log, "vmlinux", "nm"),
                                 "CPU0 HLT=1 RIP=stop_this_cpu+0x10 CR2=0x0 CR3=0x1c0a000, "
                                 "CPU1 HLT=0 RIP=0xffffffffa2e00110 CR2=0xffff88800009d000 CR3=0x11a0e000")
            # A snapshot taken for another reason is not a triple fault's.
            with open(log + ".regs", "w") as f:
                f.write(self.REGS.replace("after: Triple fault", "after: CPU 2 is stuck"))
            self.assertEqual(qemu.triple_fault_states(log, "vmlinux", "nm"), "")
            os.unlink(log + ".regs")
            self.assertEqual(qemu.triple_fault_states(log, "vmlinux", "nm"), "")


class FakeQmp:
    """The QMP side of QEMU as _wait() sees it: a SHUTDOWN event, commands."""

    def __init__(self, p):
        self.p, self.commands = p, []

    def poll(self, timeout):
        return [{"event": "SHUTDOWN", "data": {"guest": True, "reason": "guest-reset"}}]

    def command(self, name, args=None):
        self.commands.append((name, args))
        if name == "quit":
            self.p.kill()
            return {}
        return "CPU#0\nRIP=ffffffff81000110 RFL=00000046 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=1\n"


class PauseOnReset(unittest.TestCase):
    """pause_on_reset: QEMU stops the VM at a reset; the lab saves the
    vCPUs if it was a triple fault, then ends QEMU."""

    def wait(self, qemu_log):
        with tempfile.TemporaryDirectory() as d:
            log = os.path.join(d, "x.log")
            for name, text in ((log, "console\n"), (log + ".qemu", qemu_log)):
                with open(name, "w") as f:
                    f.write(text)
            p = subprocess.Popen(["sleep", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            fake = FakeQmp(p)
            qemu._wait(p, log, os.path.join(d, "monitor"), 30, fake)
            regs = open(log + ".regs").read() if os.path.exists(log + ".regs") else None
        return fake.commands, regs

    def test_triple_fault_saves_the_vcpus(self):
        commands, regs = self.wait("CPU Reset (CPU 1)\nTriple fault\n")
        self.assertEqual([c for c, _ in commands], ["human-monitor-command", "quit"])
        self.assertEqual(commands[0][1], {"command-line": "info registers -a"})
        self.assertTrue(regs.startswith("after: Triple fault"), regs)
        self.assertIn("HLT=1", regs)

    def test_the_guests_own_reboot_only_ends_qemu(self):
        commands, regs = self.wait("CPU Reset (CPU 1)\n")
        self.assertEqual([c for c, _ in commands], ["quit"])
        self.assertIsNone(regs)


class TimeoutSnapshot(unittest.TestCase):
    """A VM that does not end in time: its vCPUs are saved before the kill."""

    def test_saved_at_the_timeout(self):
        with tempfile.TemporaryDirectory() as d:
            log = os.path.join(d, "x.log")
            with open(log, "w") as f:
                f.write("console\n")
            p = subprocess.Popen(["sleep", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                with mock.patch.object(qemu, "_monitor", lambda path, cmd: "CPU#0\nRIP=ffffffff81000110 HLT=0\n"):
                    with self.assertRaises(subprocess.TimeoutExpired):
                        qemu._wait(p, log, os.path.join(d, "monitor"), 1)
            finally:
                p.kill()
                p.communicate()
            regs = open(log + ".regs").read()
        self.assertTrue(regs.startswith("after: timeout: no end of the VM after 1s"), regs)
        self.assertIn("CPU#0", regs)


class QmpSocket(unittest.TestCase):
    """_Qmp against a server that speaks QMP's framing."""

    def test_handshake_command_and_event(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "qmp")
            srv = socket.socket(socket.AF_UNIX)
            srv.bind(path)
            srv.listen(1)
            got = []

            def serve():
                c, _ = srv.accept()
                f = c.makefile("rwb", buffering=0)
                f.write(b'{"QMP": {"version": {}, "capabilities": []}}\r\n')
                for answer in (b'{"return": {}}\r\n',
                               b'{"timestamp": {}, "event": "RESUME"}\r\n{"return": {}}\r\n'):
                    got.append(json.loads(f.readline()))
                    f.write(answer)
                f.write(b'{"timestamp": {}, "event": "SHUTDOWN", "data": {"reason": "guest-reset"}}\r\n')
                c.close()
            t = threading.Thread(target=serve)
            t.start()
            p = subprocess.Popen(["sleep", "5"])
            try:
                q = qemu._Qmp(path, p)
                q.command("cont")
                events = [e["event"] for e in q.poll(5)]
                q.close()
            finally:
                p.kill()
                p.wait()
                t.join()
                srv.close()
        self.assertEqual([m["execute"] for m in got], ["qmp_capabilities", "cont"])
        self.assertEqual(events, ["RESUME", "SHUTDOWN"])

    def test_no_socket_is_a_clear_error(self):
        p = subprocess.Popen(["true"])
        p.wait()
        with self.assertRaisesRegex(LabError, "QMP socket not reachable"):
            qemu._Qmp("/nonexistent/qmp", p, timeout=1)


if __name__ == "__main__":
    unittest.main()


class SelftestShim(unittest.TestCase):
    """qemu_shim.rewrite(): the kselftest's QEMU command with the lab's ending."""

    ARGS = ["-machine", "q35", "-smp", "4", "-nodefaults", "-no-reboot", "-display", "none",
            "-monitor", "none", "-serial", "file:/t/console.log", "-kernel", "k",
            "-append", "console=ttyS0 panic=-1"]

    def test_x86_pauses_at_a_reset(self):
        from labtool import qemu_shim
        out = qemu_shim.rewrite(self.ARGS, "/m/monitor", "/m/qmp", True, "/t/console.log.qemu")
        self.assertNotIn("-no-reboot", out)
        self.assertIn("reboot=shutdown,shutdown=pause", out)
        self.assertEqual(out[out.index("-monitor") + 1], "unix:/m/monitor,server,nowait")
        self.assertEqual(out[-4:], ["-d", "cpu_reset", "-D", "/t/console.log.qemu"])
        self.assertIn("file:/t/console.log", out)
        self.assertEqual(out[out.index("-append") + 1], "console=ttyS0 panic=-1")

    def test_boot_quirks_are_added_to_the_command_line(self):
        from labtool import arch, qemu_shim
        quirks = arch.load("x86_64").boot_quirks
        self.assertIn("tsc=nowatchdog", quirks.split())
        out = qemu_shim.rewrite(self.ARGS, "/m/monitor", "/m/qmp", True, "/t/c.qemu", quirks)
        self.assertEqual(out[out.index("-append") + 1], f"console=ttyS0 panic=-1 {quirks}")

    def test_other_arches_keep_no_reboot(self):
        from labtool import qemu_shim
        out = qemu_shim.rewrite(self.ARGS, "/m/monitor", "/m/qmp", False, "/t/console.log.qemu")
        self.assertIn("-no-reboot", out)
        self.assertNotIn("-qmp", out)
        self.assertNotIn("-d", out)
        self.assertEqual(out[out.index("-monitor") + 1], "unix:/m/monitor,server,nowait")


class LoongArch(unittest.TestCase):
    """loongarch64: clang kernels, a nolibc guest, QEMU's device tree built in."""

    def setUp(self):
        from labtool import arch
        self.la = arch.load("loongarch64")

    def test_make_uses_llvm_not_a_cross_gcc(self):
        from labtool import kernel
        cmd = kernel.make_cmd("/t", "/o", self.la, "olddefconfig")
        self.assertIn("LLVM=-19", cmd)
        self.assertIn("ARCH=loongarch", cmd)
        self.assertFalse([a for a in cmd if a.startswith("CROSS_COMPILE=")])
        self.assertTrue([a for a in cmd if a.startswith("CC=") and a.endswith("clang-19")])

    def test_gcc_arches_keep_their_cross_compiler(self):
        from labtool import arch, kernel
        cmd = kernel.make_cmd("/t", "/o", arch.load("arm64"), "olddefconfig")
        self.assertIn("CROSS_COMPILE=aarch64-linux-gnu-", cmd)
        self.assertFalse([a for a in cmd if a.startswith("LLVM=")])

    def test_boot_refuses_another_cpu_count_than_the_built_in_tree(self):
        with self.assertRaisesRegex(LabError, "device tree for 4 CPUs"):
            qemu.boot(self.la, "/nonexistent", "/nonexistent", 8, "", "/nonexistent.log", 1)

    def test_run_needs_qemu_10(self):
        from labtool import runner
        with mock.patch.object(qemu, "chosen", return_value="system"):
            with self.assertRaisesRegex(LabError, "needs QEMU=backports"):
                runner.run_arch(self.la, None, [])

    def test_nolibc_guest_needs_the_series_tree(self):
        from labtool import kernel
        from labtool.util import BuildError
        with tempfile.TemporaryDirectory() as d, mock.patch.object(kernel, "tree_dir", return_value=d):
            with self.assertRaisesRegex(BuildError, "nolibc"):
                kernel.nolibc_flags(self.la, d)
