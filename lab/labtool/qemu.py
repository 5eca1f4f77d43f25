"""Boot one VM and capture its serial console. The only module that knows QEMU."""

import bisect
import json
import os
import random
import re
import select
import shutil
import socket
import subprocess
import tempfile
import time

from .util import BUILD, ROOT, LabError, run

# The QEMU the lab runs: "system" (Debian 12's 7.2, installed by make deps)
# or "backports" (bookworm-backports' QEMU 10 with its SeaBIOS and OpenSBI,
# unpacked next to it by scripts/fetch-qemu.sh). lab.py --qemu sets it;
# LAB_QEMU is the default.
QEMUS = ("system", "backports")
_choice = {"name": os.environ.get("LAB_QEMU") or "system"}
_described = {}


def use(name):
    if name not in QEMUS:
        raise LabError(f"unknown QEMU '{name}'; known: {', '.join(QEMUS)}")
    if name == "backports":
        root()
    _choice["name"] = name


def chosen():
    return _choice["name"]


def root():
    """The unpacked QEMU's directory, or None for the system's."""
    if _choice["name"] == "system":
        return None
    d = os.path.join(os.environ.get("LAB_CACHE") or os.path.join(ROOT, "cache"), "qemu", "bookworm-backports")
    if not os.path.exists(os.path.join(d, "usr", "bin", "qemu-system-x86_64")):
        raise LabError(f"{d}: no QEMU unpacked there; run 'sh scripts/fetch-qemu.sh' (make deps QEMU=backports)")
    return os.path.realpath(d)


def binary(arch):
    r = root()
    return os.path.join(r, "usr", "bin", arch.qemu) if r else arch.qemu


def machine_args(arch):
    """The arch's QEMU arguments, with the chosen QEMU's own firmware:
    -L at its data and SeaBIOS first, and its OpenSBI for '-bios default'."""
    args = list(arch.qemu_args)
    r = root()
    if not r:
        return args
    if "-bios" in args and args[args.index("-bios") + 1] == "default" and getattr(arch, "firmware", "") == "opensbi":
        args[args.index("-bios") + 1] = os.path.join(r, "usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin")
    return ["-L", os.path.join(r, "usr/share/qemu"), "-L", os.path.join(r, "usr/share/seabios"), *args]


def _package_versions():
    r = root()
    if r:
        with open(os.path.join(r, "versions")) as f:
            return dict(line.split(" ", 1) for line in f.read().split("\n") if " " in line)
    p = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\n", "seabios", "qemu-system-data"],
                       capture_output=True, text=True)
    return dict(line.split(" ", 1) for line in p.stdout.split("\n") if " " in line)


def describe(arch):
    """{"emulator": "QEMU emulator version 10.0.2 (Debian ...)", "firmware": "..."}
    for the arch's QEMU as chosen: what the binary prints, and the Debian
    package of the firmware it boots (x86: SeaBIOS; riscv64: OpenSBI, which
    Debian 12's QEMU carries in qemu-system-data)."""
    key = (chosen(), arch.qemu)
    if key not in _described:
        try:
            p = subprocess.run([binary(arch), "-version"], capture_output=True, text=True, timeout=30)
            emu = (p.stdout.splitlines() or ["?"])[0].strip()
        except OSError:
            emu = f"{binary(arch)}: not found"
        pv = _package_versions()
        fw = ""
        fw_kind = getattr(arch, "firmware", "")
        if fw_kind == "seabios":
            fw = f"SeaBIOS {pv.get('seabios', '?')}"
        elif fw_kind == "opensbi":
            fw = f"OpenSBI {pv['opensbi']}" if "opensbi" in pv else \
                f"OpenSBI of qemu-system-data {pv.get('qemu-system-data', '?')}"
        _described[key] = {"emulator": emu, "firmware": fw}
    return _described[key]

# Every generation gets the same tracing: boot-time kprobe events (enabled
# by kprobe_event= itself), printed to the console with tp_printk. They mark
# the points of the reboot path, the first step of every CPU hotplug
# operation that got past the cpu_hotplug_disabled check (the first state
# callback of a bring-up, smpboot_create_threads(), and of a teardown,
# sched_cpu_deactivate()), and the result of every sysfs attempt (the SMT
# control's through cpuhp_smt_disable(): control_store() is not unique).
TRACE = ("kprobe_event="
         "p:lab/lab_kexec,kernel_kexec;"
         "r:lab/lab_mig,migrate_to_reboot_cpu;"
         "p:lab/lab_teardown,smp_shutdown_nonboot_cpus;"
         "p:lab/lab_jump,machine_kexec;"
         "p:lab/lab_up_start,smpboot_create_threads,cpu=$arg1:u32;"
         "p:lab/lab_down_start,sched_cpu_deactivate,cpu=$arg1:u32;"
         "r:lab/lab_up,cpu_device_up,ret=$retval:s32;"
         "r:lab/lab_down,cpu_device_down,ret=$retval:s32;"
         "r:lab/lab_target,target_store,ret=$retval:s32;"
         "r:lab/lab_smt,cpuhp_smt_disable,ret=$retval:s32")


def trace(arch):
    """TRACE for arch: where $arg1 cannot be fetched (arm), its register."""
    return TRACE.replace("$arg1", arch.kprobe_arg1) if arch.kprobe_arg1 else TRACE


def cmdline(arch, extra, base=None):
    # The arch's default kexec loader (arm: no kexec_file_load()), unless
    # the scenario names one.
    loader = f"lab.loader={arch.loader}" if arch.loader and "lab.loader=" not in extra else ""
    # no_trace in the arch's .conf: bases whose kernels cannot take the
    # lab's kprobe events printed to the console (the .conf says why).
    tracing = "" if base in getattr(arch, "no_trace", ()) else trace(arch) + " tp_printk"
    return " ".join(x for x in (f"console={arch.console}", arch.cmdline, getattr(arch, "boot_quirks", ""), "panic=-1",
                                "oops=panic", tracing, extra, loader) if x)


def dump_dtb(arch, smp_arg):
    """QEMU's own device tree for the arch's machine with -smp smp_arg."""
    out = os.path.join(BUILD, "dtb", f"{arch.name}-{chosen()}-smp{smp_arg.replace(',', '-')}-qemu.dtb")
    if os.path.exists(out):
        return out
    os.makedirs(os.path.dirname(out), exist_ok=True)
    args = machine_args(arch)
    i = args.index("-machine") + 1
    args[i] += f",dumpdtb={out}.tmp"
    run([binary(arch), *args, "-smp", smp_arg, "-nodefaults", "-display", "none"],
        f"{arch.name}: dumping QEMU's device tree")
    os.rename(out + ".tmp", out)
    return out


def ram2m_dtb(arch, smp_arg):
    """QEMU's own device tree for this machine, with RAM starting 2 MiB up.

    riscv64 virt: OpenSBI 1.1 keeps 0x80000000-0x8007ffff from S-mode
    without marking it no-map, so Linux counts it as RAM.
    """
    out = os.path.join(BUILD, "dtb", f"{arch.name}-{chosen()}-smp{smp_arg.replace(',', '-')}.dtb")
    if os.path.exists(out):
        return out
    dts = subprocess.run(["dtc", "-q", "-I", "dtb", "-O", "dts", dump_dtb(arch, smp_arg)], check=True,
                         capture_output=True, text=True).stdout
    m = re.search(r"(memory@80000000 \{[^}]*reg = <)0x00 0x80000000 (0x[0-9a-f]+) (0x[0-9a-f]+)>", dts)
    if not m:
        raise LabError(f"{arch.name}: no memory node at 0x80000000 in QEMU's device tree")
    size = (int(m.group(2), 16) << 32 | int(m.group(3), 16)) - 0x200000
    dts = dts[:m.start()] + m.group(1) + f"0x00 0x80200000 {size >> 32:#x} {size & 0xffffffff:#x}>" + \
        dts[m.end():]
    subprocess.run(["dtc", "-q", "-I", "dts", "-O", "dtb", "-o", out + ".tmp"], input=dts, check=True,
                   text=True)
    os.rename(out + ".tmp", out)
    return out


# Console lines after which the lab saves every vCPU's registers (QEMU
# monitor, 'info registers -a') to <log>.regs, once per QEMU run: a CPU the
# kernel waited for in vain, or one that stalls RCU, is still somewhere,
# and that says where.
SNAPSHOT_ON = ("is stuck", "failed to come online", "detected stalls on CPUs", "soft lockup")


def _monitor(path, command):
    """One QEMU monitor command over its unix socket; its output."""
    out = b""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(2)
        s.connect(path)
        s.sendall(command.encode() + b"\n")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                data = s.recv(65536)
            except socket.timeout:
                break
            if not data:
                break
            out += data
    return out.decode(errors="replace")


class _Qmp:
    """QEMU's QMP socket: the events the VM sends, and commands."""

    def __init__(self, path, p, timeout=30):
        self.sock = socket.socket(socket.AF_UNIX)
        self.buf = b""
        self.events = []
        end = time.monotonic() + timeout
        while True:
            try:
                self.sock.connect(path)
                break
            except OSError as e:
                if p.poll() is not None or time.monotonic() > end:
                    self.sock.close()
                    raise LabError(f"QEMU's QMP socket not reachable: {e}")
                time.sleep(0.05)
        self._read(10)      # the greeting
        self.command("qmp_capabilities")

    def _read(self, timeout):
        """The next message, or None after timeout seconds."""
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                return None
            data = self.sock.recv(65536)
            if not data:
                raise LabError("QEMU closed its QMP socket")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def command(self, name, args=None, timeout=30):
        """Run a command; its "return" value. Events read meanwhile are kept."""
        msg = {"execute": name, **({"arguments": args} if args else {})}
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = self._read(end - time.monotonic())
            if m is None:
                break
            if "event" in m:
                self.events.append(m)
            elif "error" in m:
                raise LabError(f"QMP {name}: {m['error'].get('desc', m['error'])}")
            elif "return" in m:
                return m["return"]
        raise LabError(f"QMP {name}: no answer in {timeout}s")

    def poll(self, timeout):
        """Events that arrived within timeout seconds (and those kept)."""
        m = self._read(timeout)
        while m is not None:
            if "event" in m:
                self.events.append(m)
            m = self._read(0)
        out, self.events = self.events, []
        return out

    def close(self):
        self.sock.close()


def _save_regs(logfile, line, regs):
    with open(logfile + ".regs", "w") as f:
        # Without the monitor's banner and the echo of the command.
        regs = "\n".join(l for l in regs.replace("\r", "").splitlines()
                         if not l.startswith(("QEMU ", "(qemu)")))
        f.write(f"after: {line.strip()}\n{regs}\n")


def _wait(p, logfile, monitor, timeout, qmp=None):
    """Wait for QEMU like communicate(timeout=...), saving the vCPUs'
    registers once if the console shows a line of SNAPSHOT_ON, or at the
    timeout.

    qmp: a _Qmp when QEMU pauses the VM at a reset or shutdown instead of
    ending (pause_on_reset); at that pause the registers are saved if
    QEMU's log says "Triple fault", and QEMU is told to quit."""
    end = time.monotonic() + timeout
    snapped = False
    seen = 0    # bytes of the log already searched, up to its last newline
    while True:
        try:
            return p.communicate(timeout=0.25 if qmp else 0.5)
        except subprocess.TimeoutExpired:
            if time.monotonic() > end:
                # A hung guest: where every vCPU is says what it waits for.
                if not snapped:
                    _snapshot(logfile, monitor, f"timeout: no end of the VM after {timeout}s")
                raise
        if qmp and any(e.get("event") == "SHUTDOWN" for e in qmp.poll(0.25)):
            if not snapped and triple_fault(logfile):
                regs = qmp.command("human-monitor-command", {"command-line": "info registers -a"})
                _save_regs(logfile, "Triple fault (QEMU paused the VM at the reset)", regs)
            qmp.command("quit")
            return p.communicate(timeout=max(5, end - time.monotonic()))
        if snapped:
            continue
        try:
            with open(logfile, "rb") as f:
                f.seek(seen)
                chunk = f.read()
        except OSError:
            continue
        chunk = chunk[:chunk.rfind(b"\n") + 1]
        seen += len(chunk)
        text = chunk.decode(errors="replace")
        line = next((l for l in text.splitlines() if any(m in l for m in SNAPSHOT_ON)), None)
        if line:
            snapped = True
            _snapshot(logfile, monitor, line)


def _snapshot(logfile, monitor, why):
    """Every vCPU's registers (QEMU monitor) to <log>.regs, after 'why'."""
    try:
        regs = _monitor(monitor, "info registers -a")
    except OSError as e:
        regs = f"QEMU monitor not reachable: {e}"
    _save_regs(logfile, why, regs)


def triple_fault(logfile):
    """x86: whether QEMU's cpu_reset log (<log>.qemu) says "Triple fault"."""
    try:
        with open(logfile + ".qemu", errors="replace") as f:
            return "Triple fault" in f.read()
    except OSError:
        return False


def icount_args(arch, shift):
    """QEMU arguments for instruction-counted guest time, or [] for None.

    With -icount QEMU runs every vCPU in one host thread, in turns, and the
    guest's clock advances by 2**shift ns per instruction executed instead
    of with the host's clock: a vCPU the host does not run for a while sees
    no time pass, so the guest's watchdogs measure guest work, not host
    load. The vCPUs are interleaved, not parallel.
    """
    if shift is None:
        return []
    if not 0 <= shift <= 10:
        raise LabError(f"icount shift {shift}: QEMU takes 0 to 10")
    if "-icount" in arch.qemu_args:
        raise LabError(f"{arch.name}: its qemu_args set -icount already")
    return ["-icount", f"shift={shift},sleep=on"]


# The hypervisor's side of the 'vcpu-eject' scenario: QEMU asks the guest
# to eject its last vCPU (QMP device_del, ACPI CPU hotplug on q35) once,
# while the guest kexecs, and the guest kernel takes that CPU offline by
# itself from its ACPI hotplug work, with no user space involved. The
# guest says "LAB: wait MS" and kexecs MS ms later; the request goes out
# at a random time in EJECT_AT (ms after that line), a range that puts
# the guest's offline of the CPU around the kexec's shutdown.
EJECT_AT = (150, 650)


def _last_cpu(qmp):
    """QOM path of the hot-pluggable vCPU with the highest socket, core and thread."""
    cpus = [c for c in qmp.command("query-hotpluggable-cpus") if c.get("qom-path")]
    if len(cpus) < 2:
        raise LabError("vcpu-eject: QEMU lists no second vCPU to unplug")
    key = lambda c: tuple(c["props"].get(k, 0) for k in ("socket-id", "core-id", "thread-id"))  # noqa: E731
    return max(cpus, key=key)["qom-path"]


def _eject(p, qmp, logfile, deadline):
    """One device_del for the last vCPU at a random time in EJECT_AT after
    the guest's "LAB: wait" line; the guest's _OST answers and whether the
    vCPU went away until the VM ends, written to <log>.qmp."""
    target = _last_cpu(qmp)
    at = os.environ.get("LAB_EJECT_AT")
    at = float(at) if at else random.uniform(*EJECT_AT)
    seen, when, sent, ost, deleted, err = 0, None, False, [], False, ""
    while p.poll() is None and time.monotonic() < deadline:
        events = qmp.poll(0)
        for e in events:
            # The guest's _OST answers (0x84: ejection in progress, 0:
            # success, 1: failure) and QEMU's note that the vCPU is gone.
            if e.get("event") == "ACPI_DEVICE_OST":
                ost.append(str(e.get("data", {}).get("info", {}).get("status")))
            deleted = deleted or e.get("event") == "DEVICE_DELETED"
        if any(e.get("event") == "SHUTDOWN" for e in events):
            qmp.events = events + qmp.events     # for _wait()
            break
        if when is None:
            try:
                with open(logfile, "rb") as f:
                    f.seek(seen)
                    chunk = f.read()
            except OSError:
                chunk = b""
            chunk = chunk[:chunk.rfind(b"\n") + 1]
            seen += len(chunk)
            if b"LAB: wait " in chunk:
                when = time.monotonic() + at / 1000
        elif not sent and time.monotonic() >= when:
            sent = True
            try:
                qmp.command("device_del", {"id": target}, timeout=5)
            except LabError as e:
                err = str(e)
        time.sleep(0.001)
    with open(logfile + ".qmp", "w") as f:
        f.write(f"device_del {target} {at:.0f} ms after 'LAB: wait': "
                f"{'not sent' if not sent else 'refused by QEMU: ' + err if err else 'sent'}; "
                f"guest _OST status {','.join(ost) or 'none'}; vCPU removed: {'yes' if deleted else 'no'}\n")


def boot(arch, image, initrd, smp, append, logfile, timeout, topology="", dtb_fix=True, icount=None,
         eject=False):
    """Run QEMU until the guest ends it (a reboot or power-off) or timeout.

    icount: None, or the shift of icount_args().
    eject: unplug the last vCPU during the kexec (_eject(); x86 q35,
    which the lab runs with a QMP socket).
    Returns (console text, seconds, timed_out).
    """
    smp_arg = f"{smp},{topology}" if topology else str(smp)
    if getattr(arch, "builtin_dtb", "") and smp_arg != arch.builtin_dtb_smp:
        raise LabError(f"{arch.name}: the kernels carry QEMU's device tree for {arch.builtin_dtb_smp} CPUs "
                       f"(lab/arch/{arch.name}.conf); cannot boot them with -smp {smp_arg}")
    dtb = ["-dtb", ram2m_dtb(arch, smp_arg)] if arch.dtb_fix == "ram2m" and dtb_fix else []
    # A unix socket path has to fit in 108 bytes: not next to the log.
    mondir = tempfile.mkdtemp(prefix="lab-qemu-")
    monitor = os.path.join(mondir, "monitor")
    for f in (logfile + ".regs", logfile + ".qmp"):
        if os.path.exists(f):
            os.unlink(f)
    # pause_on_reset: a reset or shutdown stops the VM (its vCPUs as they
    # were) instead of ending QEMU; _wait() then saves them if need be and
    # ends QEMU. Without it -no-reboot ends QEMU at the guest's reboot.
    pause = getattr(arch, "pause_on_reset", "") == "yes"
    qmp_path = os.path.join(mondir, "qmp")
    ending = ["-S", "-action", "reboot=shutdown,shutdown=pause", "-qmp", f"unix:{qmp_path},server=on,wait=off"] \
        if pause else ["-no-reboot"]
    cmd = [binary(arch), *machine_args(arch), *icount_args(arch, icount), *dtb, "-smp", smp_arg, "-nodefaults",
           *ending, "-display", "none", "-monitor", f"unix:{monitor},server,nowait", "-serial", f"file:{logfile}",
           "-kernel", image, "-initrd", initrd, "-append", append]
    # QEMU's own log next to the console log (qemu_debug in the arch's
    # .conf): on x86 its cpu_reset log says whether a VM that ended
    # silently took a triple fault.
    debug = os.environ.get("LAB_QEMU_DEBUG") or getattr(arch, "qemu_debug", "")
    if debug:
        cmd += ["-d", debug, "-D", logfile + ".qemu"]
    start = time.monotonic()
    try:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    except FileNotFoundError:
        shutil.rmtree(mondir, ignore_errors=True)
        raise LabError(f"{binary(arch)} not found (run 'make deps')")
    timed_out = False
    qmp = None
    try:
        if pause:
            # QEMU starts with the vCPUs stopped (-S): no event is missed.
            qmp = _Qmp(qmp_path, p)
            qmp.command("cont")
        if eject:
            if not qmp:
                raise LabError(f"{arch.name}: vcpu-eject needs the QMP socket of pause_on_reset")
            _eject(p, qmp, logfile, time.monotonic() + timeout)
        _, err = _wait(p, logfile, monitor, max(1, timeout - (time.monotonic() - start)), qmp)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        timed_out = True
    except LabError:
        p.kill()
        p.communicate()
        raise
    finally:
        if qmp:
            qmp.close()
        shutil.rmtree(mondir, ignore_errors=True)
    secs = time.monotonic() - start
    if not timed_out and p.returncode not in (0,):
        raise LabError(f"{binary(arch)} failed (exit {p.returncode}): {err.decode(errors='replace')[-500:]}")
    with open(logfile, errors="replace") as f:
        text = f.read()
    return text, secs, timed_out


def _symbols(vmlinux, nm):
    """Sorted (address, name) of vmlinux's text symbols, or []."""
    try:
        out = subprocess.run([nm, "-n", vmlinux], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    syms = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTwW":
            syms.append((int(parts[0], 16), parts[2]))
    return syms


def _where(addr, syms):
    i = bisect.bisect_right(syms, (addr, "\uffff")) - 1
    if i >= 0 and addr - syms[i][0] < 0x100000:
        return f"{syms[i][1]}+{addr - syms[i][0]:#x}"
    return f"{addr:#x}"


def triple_fault_states(logfile, vmlinux, nm):
    """x86: each vCPU's state when QEMU paused the VM at a triple fault
    (pause_on_reset saves it to <log>.regs), e.g.
    'CPU0 HLT=0 RIP=0xffffffffa1c3e2f0 CR2=... CR3=..., CPU1 HLT=1 ...', or ''.

    A vCPU parked in a HLT loop shows HLT=1; CR3 tells the old kernel's
    page tables from the new one's. Addresses are named with vmlinux when
    they fall in it (not under KASLR)."""
    try:
        with open(logfile + ".regs", errors="replace") as f:
            text = f.read()
    except OSError:
        return ""
    if not text.startswith("after: Triple fault"):
        return ""
    syms = _symbols(vmlinux, nm)
    out = []
    for cpu, block in re.findall(r"^CPU#(\d+)\s*\n(.*?)(?=^CPU#|\Z)", text, flags=re.S | re.M):
        m = re.search(r"\bRIP=([0-9a-f]+)\b.*?\bSMM=(\d)\s+HLT=(\d)", block, flags=re.S)
        if not m:
            continue
        cr = dict(re.findall(r"\b(CR[23])=([0-9a-f]+)", block))
        smm = " SMM=1" if m.group(2) == "1" else ""
        out.append(f"CPU{cpu} HLT={m.group(3)}{smm} RIP={_where(int(m.group(1), 16), syms)}"
                   + "".join(f" {k}={int(v, 16):#x}" for k, v in sorted(cr.items())))
    return ", ".join(out)


def snapshot_summary(logfile, vmlinux, nm):
    """Where each vCPU was in <log>.regs ('CPU#2 kexec_wait+0x10'), or ''."""
    try:
        with open(logfile + ".regs", errors="replace") as f:
            text = f.read()
    except OSError:
        return ""
    blocks = re.split(r"^CPU#(\d+)\s*$", text, flags=re.M)
    syms = None
    where = []
    for cpu, block in zip(blocks[1::2], blocks[2::2]):
        m = re.search(r"(?:\bNIP|\bPC=|\bRIP=|\bpc)\s*([0-9a-f]{8,16})\b", block)
        if not m:
            continue
        if syms is None:
            syms = _symbols(vmlinux, nm)
        where.append(f"CPU#{cpu} {_where(int(m.group(1), 16), syms)}")
    return ", ".join(where)
