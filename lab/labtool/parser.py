"""Console log -> facts. Knows nothing about QEMU or scenarios.

A log holds one or more generations (kernels booted one after the other by
kexec). For each generation the parser collects the guest's "LAB:" lines,
the trace events of the lab's kprobes, and the boot CPU the kernel reports.
"""

import re
from dataclasses import dataclass, field

TS = r"^\[\s*(\d+\.\d+)\]\s"

# Anything the kernel prints when something went wrong.
SPLATS = [
    r"BUG:", r"WARNING:", r"Oops", r"Internal error:", r"Kernel panic",
    r"kernel BUG at", r"possible circular locking", r"possible recursive locking",
    r"inconsistent lock state", r"lockdep is turned off", r"DEBUG_LOCKS_WARN_ON",
    r"sleeping function called",
    r"blocked for more than \d+ seconds", r"Processor \d+ is stuck",
    r"soft lockup", r"rcu_\w+ (self-)?detected stall", r"Unable to handle kernel",
    r"general protection fault", r"stack-protector", r"Unbalanced cpu hotplug",
    r"Failed to offline CPU", r"no longer affine to cpu",
]
SPLAT_RE = re.compile("|".join(SPLATS))
# Trace events of the first step of a CPU bring-up and teardown: a hotplug
# operation that got past the cpu_hotplug_disabled check.
HOTPLUG_STARTS = ("lab_up_start", "lab_down_start")
EVENT_RE = re.compile(TS + r".*?\b(lab_\w+): \((\S+?)(?: <- (\S+))?\)\s*(.*)$")


@dataclass
class Event:
    ts: float
    name: str
    args: dict
    line: str


@dataclass
class Generation:
    index: int
    lines: list = field(default_factory=list)
    boot: dict = None          # fields of "LAB: boot ..."
    lab: list = field(default_factory=list)     # "LAB: ..." texts
    events: list = field(default_factory=list)
    hwid: str = None           # boot CPU as the kernel reports it
    done: bool = False
    errors: list = field(default_factory=list)
    # x86 since 6.9: a kernel entered on another CPU than the BSP leaves
    # the BSP out ("Disabling real BSP to prevent machine INIT").
    bsp_disabled: str = None

    def window(self):
        """Hotplug operations in the last reboot path of this generation.

        Returns (ops, refused, end): 'ops' are the first steps of CPU
        hotplug operations (lab_up_start, lab_down_start) after migrate_to_reboot_cpu() returned and before the
        architecture's teardown or the jump into the new kernel, i.e.
        operations that got past cpu_hotplug_disabled inside the window;
        'refused' are sysfs attempts that returned -EBUSY inside that same
        window (after the teardown every kernel refuses: it proves
        nothing); 'end' names what closed the window.
        """
        start = None
        for i, e in enumerate(self.events):
            if e.name == "lab_mig":
                start = i
        if start is None:
            return None
        ops, refused, end = [], [], "log end"
        rest = self.events[start + 1:]
        for i, e in enumerate(rest):
            if e.name in ("lab_teardown", "lab_jump"):
                end, rest = e.name, rest[i + 1:]
                break
            if e.name in HOTPLUG_STARTS:
                ops.append(e)
            elif e.name in ("lab_up", "lab_down", "lab_target", "lab_smt") and e.args.get("ret") == "-16":
                refused.append(e)
        else:
            rest = []
        if end == "lab_jump":
            # powerpc wakes offline CPUs inside machine_kexec()
            # (wake_offline_cpus(), lab_up_start events of its own); no
            # kexec path takes a CPU down after the jump, so a teardown
            # there is another task's, inside the window.
            ops += [e for e in rest if e.name == "lab_down_start"]
        return ops, refused, end

    def timestamp(self, name):
        for e in self.events:
            if e.name == name:
                return e.ts
        return None


@dataclass
class Log:
    generations: list
    splats: list
    text: str

    @property
    def last_line(self):
        lines = [l for l in self.text.splitlines() if l.strip()]
        return lines[-1].strip() if lines else "(empty log)"

    def silent_reset_without_bsp(self):
        """The last kernel, kexec'd on x86 with the real BSP left halted,
        ended the VM before it was done, with no splat, panic or reboot
        message: QEMU saw a reset ("Triple fault" in its cpu_reset log).
        The halted BSP woken by a broadcast IPI does that (see
        docs/investigations.md). Returns the generation's last line or None.
        """
        g = self.generations[-1] if self.generations else None
        if not g or g.index == 0 or not g.bsp_disabled or g.done or self.splats:
            return None
        # Not "reboot:" alone: with reboot=s<N> a kernel short of its BSP
        # may print "reboot: Ignoring the CPU number in reboot= option".
        if any(m in l for l in g.lines for m in ("reboot: Restarting", "reboot: Power down",
                                                 "reboot: System halted", "Kernel panic")):
            return None
        return self.last_line


def _fields(text):
    return dict(re.findall(r"(\w+)=(\S+)", text))


KMSG_RE = re.compile(r"\[\s*\d+\.\d+\]")


def logical_lines(text):
    """Console text -> lines, each either the kernel's or the guest's.

    The guest writes its lines to the same console the kernel prints to,
    so a kernel message can land inside a guest line: "LAB: boot gen=1
    [    2.70] input: ..." with the rest of the guest line on the next line,
    or "LAB: action kexec gen=0[    4.65] lab_kexec: ...". Split at every
    kernel timestamp, and join a cut guest line with the untimestamped
    text that follows it.
    """
    pending = None
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        cuts = [m.start() for m in KMSG_RE.finditer(line) if m.start() > 0]
        parts = [line[a:b] for a, b in zip([0] + cuts, cuts + [len(line)])]
        for i, part in enumerate(parts):
            kernel = KMSG_RE.match(part) is not None
            if kernel:
                yield part
                continue
            if pending is not None and not part.startswith("LAB:"):
                part = pending + part
            elif pending is not None:
                yield pending
            pending = None
            if i < len(parts) - 1 and part.startswith("LAB:"):
                pending = part          # cut by a kernel message
            else:
                yield part
    if pending is not None:
        yield pending


def parse(text):
    gens = [Generation(0)]
    splats = []
    banners = set()
    for line in logical_lines(text):
        # Every kernel prints "Linux version"; arm64 prints "Booting Linux
        # on physical CPU" before it, and a powerpc kernel started by Open
        # Firmware (not by kexec) "Preparing to boot Linux version" from
        # prom_init. The second of either kind starts the next generation.
        # (The printk clock is no marker: x86 goes back to 0.000000 within
        # one boot.)
        kind = ("booting" if "Booting Linux on physical CPU" in line
                or "Preparing to boot Linux version" in line else
                "version" if re.search(r"\bLinux version \d", line) else None)
        if kind:
            if kind in banners:
                gens.append(Generation(len(gens)))
                banners = set()
            banners.add(kind)
        g = gens[-1]
        g.lines.append(line)
        if SPLAT_RE.search(line):
            splats.append((g.index, line.strip()))
        m = re.search(r"LAB: (.*)$", line)
        if m:
            msg = m.group(1)
            g.lab.append(msg)
            if msg.startswith("boot "):
                g.boot = _fields(msg)
            elif msg.startswith("done"):
                g.done = True
            elif msg.startswith("error"):
                g.errors.append(msg)
            continue
        m = EVENT_RE.search(line)
        if m:
            g.events.append(Event(float(m.group(1)), m.group(2), _fields(m.group(5)), line.strip()))
            continue
        if "Disabling real BSP" in line:
            g.bsp_disabled = line.strip()
        m = re.search(r"Booting Linux on physical CPU (0x[0-9a-fA-F]+)", line)
        if m:
            g.hwid = str(int(m.group(1), 16))
    for g in gens:
        if g.hwid is None and g.boot and g.boot.get("hwid", "-") != "-":
            g.hwid = g.boot["hwid"]
    return Log(gens, splats, text)


def cpulist(s):
    """'0-2,5' -> {0, 1, 2, 5}"""
    out = set()
    for part in (s or "").split(","):
        if not part:
            continue
        a, _, b = part.partition("-")
        out.update(range(int(a), int(b or a) + 1))
    return out
