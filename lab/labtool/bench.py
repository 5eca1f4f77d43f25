"""make bench: time the kexec shutdown path, base vs patched vs rfc.

The time of machine_shutdown() on the kexec path: from kernel_kexec()'s
"Starting new kernel" to machine_kexec() (the jump into the new kernel:
the lab_jump kprobe event, or "Bye" where entry kprobes print nothing),
from printk timestamps in the old kernel. The kernels alternate run by run so that the machine's noise
hits all alike; medians, min-max and the ratios to base are reported per
architecture and vCPU count, as a table and a PNG plot.

The rfc kernel (rfc/fast-teardown/ on top of the series) exists for the
architectures in RFC_ARCHES only; elsewhere its cells read n/a.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess

from . import arch as archmod, kernel, parser, qemu, runner
from .util import BUILD, LabError, log

# rfc = yes in lab/arch/<name>.conf
RFC_ARCHES = archmod.names_with("rfc", "yes")
NAMES = {"base": "base", "patched": "patched", "rfc": "rfc"}


START = "kexec_core: Starting new kernel"
BYE_RE = re.compile(parser.TS + r"Bye(!|\.\.\.)")


def line_ts(g, pattern):
    """Timestamp of the first line of generation g that matches pattern."""
    for line in g.lines:
        m = re.search(parser.TS + r".*" + pattern, line)
        if m:
            return float(m.group(1))
    return None


def shutdown_ms(g):
    """kernel_kexec() from "Starting new kernel" (right before
    machine_shutdown()) to machine_kexec(): the lab_jump kprobe event, or
    the arch's "Bye" line where entry kprobes print nothing (riscv64)."""
    t0 = line_ts(g, re.escape(START))
    t1 = g.timestamp("lab_jump")
    if t1 is None:
        m = next(filter(None, map(BYE_RE.search, g.lines)), None)
        t1 = float(m.group(1)) if m else None
    return None if t0 is None or t1 is None else (t1 - t0) * 1000.0


def one(arch, img, smp, logfile, base=None):
    append = qemu.cmdline(arch, "lab.action=kexec lab.gens=1", base)
    run = runner.boot(arch, img, smp, append, logfile, 180)
    log_ = run.log
    ms = shutdown_ms(log_.generations[0])
    if run.timed_out or log_.splats or ms is None or len(log_.generations) < 2:
        why = log_.splats[0][1] if log_.splats else f"timeout={run.timed_out}, last: {log_.last_line}"
        raise LabError(f"bench run failed ({logfile}): {why}")
    return ms


def _cell(r, k):
    if f"{k}_med" not in r:
        return "n/a"
    return f"{r[k + '_med']:.1f} ({r[k + '_min']:.1f}-{r[k + '_max']:.1f})"


def _ratio(r, k):
    if f"{k}_med" not in r or not r["base_med"]:
        return "n/a"
    x = r[k + "_med"] / r["base_med"]
    # Small ratios keep a significant digit.
    return f"{x:.3f}" if x < 0.1 else f"{x:.2f}"


def table(rows):
    out = ["| arch | vCPUs | base ms median (min-max) | patched ms median (min-max) | rfc ms median (min-max) "
           "| patched/base | rfc/base |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['arch']} | {r['smp']} | {_cell(r, 'base')} | {_cell(r, 'patched')} | {_cell(r, 'rfc')} "
                   f"| {_ratio(r, 'patched')} | {_ratio(r, 'rfc')} |")
    return "\n".join(out)


def plot_script(rows, dat, path):
    """(data file text, gnuplot script): one curve per arch and kernel."""
    arches = sorted({r["arch"] for r in rows})
    data, plots, idx = [], [], 0
    for a in arches:
        for k in ("base", "patched", "rfc"):
            pts = [r for r in rows if r["arch"] == a and f"{k}_med" in r]
            if not pts:
                continue
            for r in pts:
                data.append(f"{r['smp']} {r[k + '_med']:.3f} {r[k + '_min']:.3f} {r[k + '_max']:.3f}")
            data += ["", ""]
            plots.append(f"'{dat}' index {idx} using 1:2:3:4 with yerrorlines title '{a} {NAMES[k]}'")
            idx += 1
    xmax = 20 if any(r["smp"] > 8 for r in rows) else 10
    script = (f"set terminal png size 800,500 noenhanced\nset output '{path}'\n"
              "set title 'kexec shutdown: Starting new kernel to machine_kexec() (median, min-max)'\n"
              "set xlabel 'vCPUs'\nset ylabel 'ms (log scale)'\nset key outside right\nset logscale x 2\nset logscale y 10\n"
              f"set xrange [1.6:{xmax}]\nset xtics (2,4,8,16)\nplot " + ", ".join(plots) + "\n")
    return "\n".join(data) + "\n", script


def plot(rows, path):
    if not shutil.which("gnuplot"):
        log("gnuplot not found: no plot (make deps installs gnuplot-nox)")
        return None
    dat = path[:-4] + ".dat"
    data, script = plot_script(rows, dat, path)
    with open(dat, "w") as f:
        f.write(data)
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    return path


def kernels_for(arch):
    return ("base", "patched", "rfc") if arch.name in RFC_ARCHES else ("base", "patched")


def prepare(arch, base, rfc=True):
    """Images of base, patched and (where it exists and rfc) rfc."""
    opts = argparse.Namespace(base=base, label=base, tree=None, kconfig=None)
    images = runner.prepare(arch, opts)
    if rfc and "rfc" in kernels_for(arch):
        images["rfc"] = runner.image_set(arch, kernel.build(base, arch, "rfc", tree=kernel.prepare_rfc(base)))
    return images


def summarize(arch_name, smp, times):
    r = {"arch": arch_name, "smp": smp}
    for k, v in times.items():
        r[f"{k}_med"], r[f"{k}_min"], r[f"{k}_max"] = statistics.median(v), min(v), max(v)
        r[f"{k}_all"] = v
    return r


def main(arches, base, smps, runs):
    if runs < 1:
        raise LabError("--runs must be at least 1")
    outdir = os.path.join(BUILD, "bench")
    os.makedirs(outdir, exist_ok=True)
    rows = []
    for arch in arches:
        images = prepare(arch, base)
        ks = kernels_for(arch)
        for smp in smps:
            times = {k: [] for k in ks}

            def attempt(k, i):
                ms = one(arch, images[k], smp, os.path.join(outdir, f"{arch.name}-{k}-smp{smp}-{i}.log"), base)
                times[k].append(ms)
                log(f"bench {arch.name} smp={smp} {NAMES[k]} run {i + 1}/{runs}: {ms:.1f} ms")
            runner.rounds(ks, attempt, lambda k, i: i < runs)
            rows.append(summarize(arch.name, smp, times))
    md = table(rows)
    png = plot(rows, os.path.join(outdir, "bench.png"))
    with open(os.path.join(outdir, "bench.md"), "w") as f:
        f.write(f"{md}\n\n{runs} runs each, the kernels interleaved run by run.\n")
    print(md)
    print(f"{runs} runs per cell, the kernels interleaved run by run; plot: {png}")
    return 0
