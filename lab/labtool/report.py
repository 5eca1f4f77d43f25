"""Results -> a table on the terminal, report.md and results.json."""

import os

from .kernel import describe
from .util import BUILD

CELL = {"ok": "{r}", "MISMATCH": "{r} (MISMATCH: expected {e})", "info": "{r} (info)", "skip": "skip"}


def cell(r):
    return CELL[r.verdict].format(r=r.result, e=r.expected)


def counts(results):
    """(passed, failed, skipped, informational) over the cells with a definite expectation."""
    v = [r.verdict for r in results]
    return v.count("ok"), v.count("MISMATCH"), v.count("skip"), v.count("info")


def closing_line(results):
    p, f, s, _ = counts(results)
    return f"{p} passed, {f} failed" + (f", {s} skipped" if s else "")


def mismatches(results):
    """One line per cell that did not give its expected result.

    Printed last, next to the closing line, so the tail of a CI log names
    them; run N is logs/<arch>-<base>-<kernel>-<scenario>-<N-1>.log.
    """
    return [f"MISMATCH {r.arch} {r.base} {r.kernel} {r.scenario}: expected {r.expected}, "
            f"got {r.result}: {r.evidence}" for r in results if r.verdict == "MISMATCH"]


def linux(r):
    """'Linux 6.12.118 (Debian linux-source-6.12 6.12.118-1~deb12u1)' for a
    result's tree; its label first if that is not the kernel's own version
    (make validate's 'validate-6.12'); 'Linux <label>' without a version."""
    if not r.kernel_version:
        return f"Linux {r.base}"
    out = describe(vars(r))
    if not (r.kernel_version + ".").startswith(r.base + "."):
        out = f"{r.base}: {out}"
    return out


def emulator(r):
    """'QEMU emulator version 7.2.x (...), SeaBIOS 1.16.2-1' or ''."""
    return ", ".join(x for x in (getattr(r, "emulator", ""), getattr(r, "firmware", "")) if x)


def groups(results):
    out = {}
    for r in results:
        out.setdefault((r.arch, r.base), {}).setdefault(r.scenario, {})[r.kernel] = r
    return out


def text_table(results, width=110):
    lines = []
    for (arch, base), scs in groups(results).items():
        first = next(iter(next(iter(scs.values())).values()))
        lines.append(f"== {arch}, {linux(first)}: expected base/patched, result, evidence")
        if emulator(first):
            lines.append(f"   {emulator(first)}")
        for name, by in scs.items():
            b, p = by.get("base"), by.get("patched")
            lines.append(f"{name:22} base    [{b.expected:4}] {cell(b):28} {b.evidence[:width]}")
            lines.append(f"{'':22} patched [{p.expected:4}] {cell(p):28} {p.evidence[:width]}")
    return "\n".join(lines)


def markdown(results, extra=""):
    out = ["# Lab report", "",
           "Each cell: result on that kernel (expected in brackets), then the evidence line. "
           "`info` cells measure a race the base kernel loses in some runs and are not counted.", ""]
    for (arch, base), scs in groups(results).items():
        first = next(iter(next(iter(scs.values())).values()))
        out += [f"## {arch}, {linux(first)}", ""] + ([emulator(first), ""] if emulator(first) else []) + [
                "| scenario | base | patched |", "|---|---|---|"]
        for name, by in scs.items():
            row = []
            for k in ("base", "patched"):
                r = by[k]
                ev = r.evidence.replace("|", "\\|")
                logs = " ".join(f"[log]({l})" for l in (r.logs or [])[:3])
                row.append(f"**{cell(r)}** [{r.expected}] {ev} {logs}")
            out.append(f"| {name} | {row[0]} | {row[1]} |")
        out.append("")
    out += [extra, "", closing_line(results), ""]
    return "\n".join(out)


def write(results, extra=""):
    d = os.path.join(BUILD, "report")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "report.md"), "w") as f:
        f.write(markdown(results, extra))
