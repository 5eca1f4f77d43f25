"""Results -> a table on the terminal, report.md, results.ktap, and the
pages in docs/ and the README's headline table (lab.py report)."""

import os

from .kernel import describe
from .hooks import KNOWN
from .verdict import Outcome, Verdict
from .util import BUILD, LabError

CELL = {Verdict.OK: "{r}", Verdict.MISMATCH: "{r} (MISMATCH: expected {e})", Verdict.INFO: "{r} (info)",
        Verdict.SKIP: "skip"}


def cell(r):
    return CELL[r.verdict].format(r=r.result, e=r.expected)


def counts(results):
    """(passed, failed, skipped, informational) over the cells with a definite expectation."""
    v = [r.verdict for r in results]
    return v.count(Verdict.OK), v.count(Verdict.MISMATCH), v.count(Verdict.SKIP), v.count(Verdict.INFO)


# What the counters of hooks.KNOWN are called in the closing line.
KNOWN_NAMES = {k.counter: k.name for k in KNOWN}


def closing_line(results):
    """'N passed, N failed[, N skipped]', and the failed runs the lab
    recognises, by kind."""
    p, f, s, _ = counts(results)
    line = f"{p} passed, {f} failed" + (f", {s} skipped" if s else "")
    known = {}
    for r in results:
        for c, n in (getattr(r, "known", None) or {}).items():
            known[c] = known.get(c, 0) + n
    if known:
        line += "; failed runs of a known kind: " + ", ".join(
            f"{n} {KNOWN_NAMES.get(c, c)}" for c, n in sorted(known.items()))
    return line


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


LEGEND = ("Each cell: result on that kernel (expected in brackets), then the evidence line. "
          "`info` cells measure a race the base kernel loses in some runs and are not counted.")


def tables(results, logs=True):
    """One markdown table per arch and base; logs: link each cell's logs
    (build/report/ only: docs/ has no logs)."""
    out = []
    for (arch, base), scs in groups(results).items():
        first = next(iter(next(iter(scs.values())).values()))
        out += [f"## {arch}, {linux(first)}", ""] + ([emulator(first), ""] if emulator(first) else []) + [
                "| scenario | base | patched |", "|---|---|---|"]
        for name, by in scs.items():
            row = []
            for k in ("base", "patched"):
                r = by[k]
                ev = r.evidence.replace("|", "\\|")
                links = " " + " ".join(f"[log]({l})" for l in (r.logs or [])[:3]) if logs else ""
                row.append(f"**{cell(r)}** [{r.expected}] {ev}{links}")
            out.append(f"| {name} | {row[0]} | {row[1]} |")
        out.append("")
    return out


def markdown(results, extra=""):
    return "\n".join(["# Lab report", "", LEGEND, ""] + tables(results) + [extra, "", closing_line(results), ""])


def write(results, extra=""):
    d = os.path.join(BUILD, "report")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "report.md"), "w") as f:
        f.write(markdown(results, extra))
    with open(os.path.join(d, "results.ktap"), "w") as f:
        f.write(ktap(results))


def ktap(results):
    """KTAP version 1: one test per counted cell; cells expected 'any'
    (informational) become diagnostic lines, skips are SKIP."""
    tests, lines = [], ["KTAP version 1"]
    for r in results:
        name = f"{r.arch}_{r.base}_{r.kernel}_{r.scenario}".replace(" ", "_")
        if r.verdict == "info":
            lines.append(f"# {name}: {r.result}, not counted (expected any): {r.evidence[:200]}")
            continue
        tests.append((name, r))
    lines.insert(1, f"1..{len(tests)}")
    for i, (name, r) in enumerate(tests, 1):
        if r.verdict == Verdict.SKIP:
            lines.append(f"ok {i} {name} # SKIP {r.evidence[:200]}")
            continue
        lines.append(f"# {name}: expected {r.expected}, got {r.result}: {r.evidence[:200]}")
        lines.append(f"{'ok' if r.verdict == 'ok' else 'not ok'} {i} {name}")
    p, f, sk, _ = counts(results)
    lines.append(f"# Totals: pass:{p} fail:{f} xfail:0 xpass:0 skip:{sk} error:0")
    return "\n".join(lines) + "\n"


def run_line(run):
    """'2026-12-02 17:40 UTC, `make check`, 2 CPUs, 41m10s' from a run record."""
    parts = [run.get("date", "date not recorded")]
    if run.get("command"):
        parts.append(f"`{run['command']}`")
    if run.get("host_cpus"):
        parts.append(f"{run['host_cpus']} host CPUs")
    if run.get("wall"):
        parts.append(f"wall time {run['wall']}")
    return ", ".join(parts)


def page(run, results, title):
    """A docs/ page for one run, as the lab wrote it."""
    out = [f"# {title}", "",
           "Written by `lab.py report` from the run's `results.json`; not edited by hand.", "",
           f"Run: {run_line(run)}.", "", LEGEND, ""] + tables(results, logs=False)
    bad = mismatches(results)
    if bad:
        out += ["Cells that did not give their expected result:", ""] + [f"- {b}" for b in bad] + [""]
    out += [f"Closing line: **{closing_line(results)}**", ""]
    return "\n".join(out)


def _runs(r):
    return f"{r.failed_runs}/{r.runs}" if r.runs else r.result


def headline(run, results, link):
    """The README's results: per arch and kernel, where the base failed and
    how the patched kernel did, with the closing line."""
    out = [f"Written by `lab.py report` from the run of {run_line(run)}; every cell with its "
           f"evidence line: [{link}]({link}).", "",
           "| arch, kernel | emulator | base kernel failed (failed/all runs) | patched kernel | cells |",
           "|---|---|---|---|---|"]
    for (arch, base), scs in groups(results).items():
        first = next(iter(next(iter(scs.values())).values()))
        cells = [r for by in scs.values() for r in by.values()]
        base_failed = [f"{n} ({_runs(by['base'])}{', info' if by['base'].verdict == 'info' else ''})"
                       for n, by in scs.items() if by["base"].result == Outcome.FAIL]
        pat = [by["patched"] for by in scs.values() if by["patched"].verdict != Verdict.SKIP]
        pat_ok = sum(r.verdict in (Verdict.OK, Verdict.INFO) and r.result == Outcome.PASS for r in pat)
        pat_bad = [f"{r.scenario} ({_runs(r)})" for r in pat if r.result != Outcome.PASS]
        p, f, sk, _ = counts(cells)
        out.append(f"| {arch}, {linux(first)} | {emulator(first) or 'not recorded'} | "
                   f"{', '.join(base_failed) or 'none'} | {pat_ok}/{len(pat)} scenarios passed"
                   f"{'; failed: ' + ', '.join(pat_bad) if pat_bad else ''} | "
                   f"{p} as expected, {f} not{f', {sk} skipped' if sk else ''} |")
    out += ["", f"Closing line: **{closing_line(results)}**"]
    return "\n".join(out)


BEGIN, END = "<!-- lab report: begin -->", "<!-- lab report: end -->"


def replace_between(text, body, path):
    """text with what stands between BEGIN and END replaced by body."""
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise LabError(f"{path}: wants one '{BEGIN}' line and, after it, one '{END}' line")
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    return f"{head}{BEGIN}\n{body}\n{END}{tail}"
