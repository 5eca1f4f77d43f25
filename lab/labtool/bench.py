"""make bench: time the kexec shutdown path, base vs patched.

The time from kernel_kexec() to machine_kexec() (the jump into the new
kernel), from the printk timestamps of the lab's two kprobe events, in the
old kernel. Base and patched alternate run by run so that the machine's
noise hits both alike; medians, min-max and the patched/base ratio are
reported per architecture and vCPU count, as a table and a PNG plot.
"""

import argparse
import os
import shutil
import statistics
import subprocess

from . import parser, qemu, runner
from .util import BUILD, LabError, log


def one(arch, img, smp, logfile):
    append = qemu.cmdline(arch, "lab.action=kexec lab.gens=1")
    text, secs, timed_out = qemu.boot(arch, img["image"], img["initrd"], smp, append, logfile, 180)
    log_ = parser.parse(text)
    g = log_.generations[0]
    t0, t1 = g.timestamp("lab_kexec"), g.timestamp("lab_jump")
    if timed_out or log_.splats or t0 is None or t1 is None or len(log_.generations) < 2:
        why = log_.splats[0][1] if log_.splats else f"timeout={timed_out}, last: {log_.last_line}"
        raise LabError(f"bench run failed ({logfile}): {why}")
    return (t1 - t0) * 1000.0


def table(rows):
    out = ["| arch | vCPUs | base ms median (min-max) | patched ms median (min-max) | patched/base |",
           "|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['arch']} | {r['smp']} | {r['base_med']:.1f} ({r['base_min']:.1f}-{r['base_max']:.1f}) "
                   f"| {r['patched_med']:.1f} ({r['patched_min']:.1f}-{r['patched_max']:.1f}) "
                   f"| {r['ratio']:.2f} |")
    return "\n".join(out)


def plot(rows, path):
    if not shutil.which("gnuplot"):
        log("gnuplot not found: no plot (make deps installs gnuplot-nox)")
        return None
    dat = path[:-4] + ".dat"
    with open(dat, "w") as f:
        for arch in sorted({r["arch"] for r in rows}):
            for r in [r for r in rows if r["arch"] == arch]:
                f.write(f"{r['smp']} {r['base_med']:.3f} {r['patched_med']:.3f} "
                        f"{r['base_min']:.3f} {r['base_max']:.3f} {r['patched_min']:.3f} {r['patched_max']:.3f}\n")
            f.write("\n\n")
    arches = sorted({r["arch"] for r in rows})
    plots = []
    for i, a in enumerate(arches):
        plots.append(f"'{dat}' index {i} using 1:2:4:5 with yerrorlines title '{a} base'")
        plots.append(f"'{dat}' index {i} using 1:3:6:7 with yerrorlines title '{a} patched'")
    script = (f"set terminal png size 800,500 noenhanced\nset output '{path}'\n"
              "set title 'kexec shutdown path: kernel_kexec() to machine_kexec() (median, min-max)'\n"
              "set xlabel 'vCPUs'\nset ylabel 'ms'\nset key top left\nset logscale x 2\n"
              "set xrange [1.6:10]\nset xtics (2,4,8,16)\nplot " + ", ".join(plots) + "\n")
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    return path


def main(arches, base, smps, runs):
    if runs < 1:
        raise LabError("--runs must be at least 1")
    outdir = os.path.join(BUILD, "bench")
    os.makedirs(outdir, exist_ok=True)
    rows = []
    for arch in arches:
        opts = argparse.Namespace(base=base, label=base, tree=None, kconfig=None)
        images = runner.prepare(arch, opts)
        for smp in smps:
            times = {"base": [], "patched": []}
            for i in range(runs):
                for k in ("base", "patched"):
                    ms = one(arch, images[k], smp, os.path.join(outdir, f"{arch.name}-{k}-smp{smp}-{i}.log"))
                    times[k].append(ms)
                    log(f"bench {arch.name} smp={smp} {k} run {i + 1}/{runs}: {ms:.1f} ms")
            r = {"arch": arch.name, "smp": smp}
            for k, v in times.items():
                r[f"{k}_med"], r[f"{k}_min"], r[f"{k}_max"] = statistics.median(v), min(v), max(v)
                r[f"{k}_all"] = v
            r["ratio"] = r["patched_med"] / r["base_med"]
            rows.append(r)
    md = table(rows)
    png = plot(rows, os.path.join(outdir, "bench.png"))
    with open(os.path.join(outdir, "bench.md"), "w") as f:
        f.write(f"{md}\n\n{runs} runs each, base and patched interleaved.\n")
    print(md)
    print(f"{runs} runs per cell, base and patched interleaved; plot: {png}")
    return 0
