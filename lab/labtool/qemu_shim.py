"""Stands in for qemu-system-ARCH when the lab runs the kselftest.

vmtest_hotplug.sh starts "qemu-system-ARCH ... -no-reboot -monitor none
-serial file:CONSOLE" itself, from PATH. The lab puts this shim first in
PATH (runner.run_selftest()), so that the test runs on the QEMU the lab
chose (LAB_QEMU) and a failed run leaves the same evidence as the lab's
own boots:

- a monitor socket instead of "-monitor none", and on x86 (LAB_SHIM_PAUSE)
  a reset pauses the VM instead of ending QEMU ("-no-reboot"): at a
  triple fault every vCPU's registers are saved, as qemu.boot() does;
- a console line of qemu.SNAPSHOT_ON, or the test's timeout (SIGTERM from
  timeout(1)), saves every vCPU's registers too;
- the arch's boot_quirks (lab/arch/ARCH.conf) are added to -append, as
  every guest of the lab gets them;
- at the end the registers, and QEMU's log if it has a triple fault, are
  copied to LAB_SHIM_OUT.regs and .qemu: the test removes its directory.

Environment: LAB_SHIM_QEMU (the real binary), LAB_SHIM_PREFIX (JSON list
of arguments put first, e.g. the chosen QEMU's -L), LAB_SHIM_PAUSE ("1"
on x86), LAB_SHIM_APPEND (kernel parameters added), LAB_SHIM_OUT (where
the evidence goes).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from labtool import qemu  # noqa: E402
from labtool.util import LabError  # noqa: E402


class Stop(Exception):
    pass


def rewrite(args, monitor, qmp_path, pause, qemu_log, append=""):
    """The test's QEMU arguments with the lab's monitor, ending and log."""
    out = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-append" and append and i + 1 < len(args):
            out += ["-append", f"{args[i + 1]} {append}"]
            i += 2
            continue
        if a == "-monitor" and i + 1 < len(args):
            out += ["-monitor", f"unix:{monitor},server,nowait"]
            i += 2
            continue
        if a == "-no-reboot" and pause:
            out += ["-S", "-action", "reboot=shutdown,shutdown=pause",
                    "-qmp", f"unix:{qmp_path},server=on,wait=off"]
            i += 1
            continue
        out.append(a)
        i += 1
    if pause:
        out += ["-d", "cpu_reset", "-D", qemu_log]
    return out


def main(argv):
    real = os.environ["LAB_SHIM_QEMU"]
    prefix = json.loads(os.environ.get("LAB_SHIM_PREFIX") or "[]")
    pause = os.environ.get("LAB_SHIM_PAUSE") == "1"
    dest = os.environ.get("LAB_SHIM_OUT")
    serial = argv[argv.index("-serial") + 1] if "-serial" in argv[:-1] else ""
    if not dest or not serial.startswith("file:"):
        os.execvp(real, [real, *prefix, *argv])     # e.g. qemu -version
    mondir = tempfile.mkdtemp(prefix="lab-shim-")
    monitor, qmp_path = os.path.join(mondir, "monitor"), os.path.join(mondir, "qmp")
    console = serial[len("file:"):]
    # qemu._wait() reads the console and <console>.qemu, and saves
    # <console>.regs: all three in the test's directory.
    log = console
    args = rewrite(argv, monitor, qmp_path, pause, log + ".qemu", os.environ.get("LAB_SHIM_APPEND", ""))

    def term(*_):
        # timeout(1) signals its whole process group: once is enough.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Stop()
    signal.signal(signal.SIGTERM, term)
    # A session of its own: the test's timeout must not end QEMU before
    # its vCPUs are saved.
    p = subprocess.Popen([real, *prefix, *args], stdin=subprocess.DEVNULL, start_new_session=True)
    rc = 124
    qmp = None
    try:
        if pause:
            qmp = qemu._Qmp(qmp_path, p)
            qmp.command("cont")
        qemu._wait(p, log, monitor, 10 ** 6, qmp)
        rc = p.returncode
    except Stop:
        qemu._snapshot(log, monitor, "timeout: the test ended QEMU (SIGTERM)")
        p.kill()
        p.wait()
    except LabError as e:
        print(f"qemu_shim: {e}", file=sys.stderr)
        p.kill()
        p.wait()
        rc = 1
    finally:
        if qmp:
            qmp.close()
        if os.path.exists(log + ".regs"):
            shutil.copy(log + ".regs", dest + ".regs")
        if qemu.triple_fault(log):
            shutil.copy(log + ".qemu", dest + ".qemu")
        shutil.rmtree(mondir, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
