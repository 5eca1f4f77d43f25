"""Arch hooks: what the lab knows of one architecture that its
lab/arch/<name>.conf cannot say as data.

Today that is the failures the lab recognises (KNOWN): a run that ends in
one fails like any other, its evidence names it, and the closing line of
the report counts it by kind.
"""

import os
from dataclasses import dataclass
from typing import Callable

from . import qemu, scenarios


@dataclass(frozen=True)
class Known:
    arch: str
    kind: str
    counter: str        # the runs' counter, in results.json
    short: str          # what a cell's evidence calls it
    name: str           # what the closing line calls it
    # (run, logfile, note, img) -> the evidence, if the failed run is one
    recognise: Callable


def _x86_reset(run, logfile, note, img):
    """A kexec'd kernel took a triple fault with the real BSP halted
    (parser.Log.silent_reset_without_bsp()): the kernel's shorthand IPIs
    reach that BSP, and under QEMU TCG one can end its HLT in the old
    kernel's memory; fixes/x86-real-bsp-ipi-shorthand stops them
    (docs/investigations.md)."""
    last = scenarios.x86_reset(run)
    if not last:
        return None
    states = qemu.triple_fault_states(logfile, os.path.join(os.path.dirname(img["image"]), "vmlinux"),
                                      "nm") if img else ""
    # native_stop_other_cpus() falls back to NMIs when a CPU does not
    # stop within a second: a late NMI to the halted BSP is one way to
    # wake it into memory the new kernel has reused.
    nmi = "Shutting down cpus with NMI" in run.log.text
    return (f"x86 triple fault in a kexec'd kernel with the real BSP halted (last line: {last[:80]})"
            + (f"; vCPUs at the reset: {states}" if states else "")
            + ("; the old kernel stopped CPUs with NMIs" if nmi else "; no stop NMI was sent"))


def _powerpc_race(run, logfile, note, img):
    """A CPU missed kexec_flag and stayed in the old kernel's kexec_wait,
    where the new kernel's copy of itself to 0 had set the flag back to 0
    (docs/investigations.md); older than the series. It may end in a
    timeout: CPU hotplug then waits for that CPU again and again."""
    stuck = next((line for _, line in run.log.splats if "is stuck" in line), None)
    if stuck and "kexec_wait+" in note:
        return (f"{stuck.strip()}, that CPU still in the old kernel's kexec_wait "
                f"(powerpc kexec_flag race, see docs/investigations.md)")
    return None


KNOWN = (
    Known("x86_64", "reset", "x86_resets", "x86 reset",
          "x86 reset of a kexec'd kernel (real BSP woken by a broadcast IPI)", _x86_reset),
    Known("ppc64le", "race", "kexec_flag_races", "powerpc kexec_flag race", "powerpc kexec_flag race",
          _powerpc_race),
)


def known_failure(arch, run, logfile, note, img=None):
    """(Known, evidence) if the failed run is one the lab recognises on
    arch, else None; note is the run's snapshot note, img its kernel's
    image set."""
    for k in KNOWN:
        if k.arch == arch.name:
            evidence = k.recognise(run, logfile, note, img)
            if evidence:
                return k, evidence
    return None
