#!/usr/bin/env python3
"""Static checks of the series, run in the tree that 'make tree' prepares.

  checkpatch   scripts/checkpatch.pl --strict on every patch: no error, no
               warning. UNKNOWN_COMMIT_ID is ignored: the base is imported
               from Debian's tarball, which has no git history, so no
               commit id can be looked up (each was checked upstream).
  kernel-doc   scripts/kernel-doc -none -Wall on every touched .c file:
               nothing new compared with the base.
  rst          docutils on every touched .rst file: nothing new compared
               with the base (Sphinx-only roles fail the same way on both).
  shellcheck   shellcheck -x on every shell script the series touches.
  bisect       every commit of the series compiles the files the series
               touches on each architecture we can cross-compile
               (loongarch with Debian's clang-19 on 7.3 and 6.12, and with
               Debian 13's gcc in a trixie chroot under cache/ on 6.1,
               which the check makes when it first needs it: root only).

With --rfc: the same checks of the RFC series (rfc/fast-teardown/, branch
'rfc' = 'series' + the RFC), compiled for arm64 and riscv64 only, the
architectures it touches.

With --fix NAME: the same checks of fixes/NAME/ (branch 'fix-NAME' = 'base'
+ the fix), compiled for the architectures whose arch/ directory it touches
(every one if it touches code outside arch/).

Prints one line per check and a closing 'N passed, N failed'.
"""

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lab"))

from labtool import arch as archmod  # noqa: E402
from labtool import kernel  # noqa: E402
from labtool.util import BUILD, LabError, fmt_secs, log, run  # noqa: E402

# Architectures compiled for every commit, from lab/arch/*.conf (those with
# a defconfig): (name, ARCH, the arch (its compiler: kernel.make_cmd()),
# defconfig, the directory of the arch's own files, options it needs,
# bases it is compiled on or None for all).
ARCHES = [(a.name, a.karch, a, a.defconfig, f"arch/{a.karch}/",
           a.static_config, tuple(a.static_bases) or None)
          for a in map(archmod.load, archmod.available()) if a.defconfig]
NEED = ["CONFIG_SMP=y", "CONFIG_HOTPLUG_CPU=y", "CONFIG_KEXEC=y"]
# Files outside arch/ that exist for some architectures only.
ONLY_ON = {"drivers/tty/hvc/hvc_dcc.c": ("arm", "arm64")}


def git(tree, *args):
    return subprocess.run(["git", "-C", tree, *args], check=True, capture_output=True,
                          text=True).stdout


def touched(tree, rev_range):
    return sorted(set(git(tree, "diff", "--name-only", rev_range).split()))


def check_checkpatch(tree, patches):
    bad = []
    for p in patches:
        # Debian's python3 first: checkpatch's SPDX check needs its ply.
        env = dict(os.environ, PATH="/usr/bin:" + os.environ.get("PATH", ""))
        out = subprocess.run(["perl", "scripts/checkpatch.pl", "--strict", "--no-summary-file",
                              "--ignore", "UNKNOWN_COMMIT_ID", p], cwd=tree, env=env,
                             capture_output=True, text=True).stdout
        m = re.search(r"total: (\d+) errors, (\d+) warnings, (\d+) checks", out)
        if not m:
            bad.append(f"{os.path.basename(p)}: checkpatch printed no total")
            continue
        e, w, c = map(int, m.groups())
        if e or w or c:
            first = next((l for l in out.splitlines() if re.match(r"(ERROR|WARNING|CHECK):", l)), "")
            bad.append(f"{os.path.basename(p)}: {e} errors, {w} warnings, {c} checks: {first}")
    return bad, f"{len(patches)} patches, 0 errors, 0 warnings, 0 checks"


def _at(tree, rev, path):
    r = subprocess.run(["git", "-C", tree, "show", f"{rev}:{path}"], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else None


def check_kerneldoc(tree, files, top="series"):
    """kernel-doc -none -Wall on every touched .c file, once per revision
    for all of them: no message the base does not have."""
    cfiles = [f for f in files if f.endswith(".c") and not f.startswith("tools/")]
    msgs = {}
    for rev in ("base", top):
        d = os.path.join(BUILD, f"kdoc-{rev}")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        names = {}
        for f in cfiles:
            src = _at(tree, rev, f)
            if src is not None:
                names[f] = os.path.join(d, f.replace("/", "__"))
                with open(names[f], "w") as fh:
                    fh.write(src)
        out = subprocess.run(["perl", "scripts/kernel-doc", "-none", "-Wall", *names.values()], cwd=tree,
                             capture_output=True, text=True) if names else None
        # "file:line: msg" (6.x) or "Warning: file:line msg" (7.x): per
        # file, compared without the place, which the series shifts.
        for f, tmp in names.items():
            msgs[(rev, f)] = {re.sub(r"\S+:\d+:?\s", "", line) for line in out.stderr.splitlines()
                              if tmp in line}
        shutil.rmtree(d, ignore_errors=True)
    bad = [f"{f}: {m}" for f in cfiles for m in sorted(msgs.get((top, f), set()) - msgs.get(("base", f), set()))]
    return bad, f"{len(cfiles)} files, no new kernel-doc warnings"


def check_rst(tree, files, top="series"):
    import docutils.core
    bad, n = [], 0
    for f in [f for f in files if f.endswith(".rst")]:
        msgs = {}
        for rev in ("base", top):
            doc = docutils.core.publish_doctree(_at(tree, rev, f) or "", settings_overrides={
                "report_level": 5, "halt_level": 5, "warning_stream": False})
            # Without line numbers: the same message moves with added text.
            msgs[rev] = {re.sub(r"^<string>:\d+: ", "", n.astext().split("\n")[0])
                         for n in doc.traverse()
                         if n.tagname == "system_message" and int(n["level"]) >= 2}
        n += 1
        bad += [f"{f}: {m}" for m in sorted(msgs[top] - msgs["base"])]
    return bad, f"{n} files, no new docutils messages"


def check_shellcheck(tree, files, top="series"):
    """From the series commit, not the working tree (the lab checks out both)."""
    import tempfile
    scripts = [f for f in files if f.endswith(".sh")]
    bad = []
    with tempfile.TemporaryDirectory() as tmp:
        # What the scripts source, as shellcheck -x follows it.
        helpers = ["tools/testing/selftests/kselftest/ktap_helpers.sh"]
        for f in scripts + helpers:
            src = _at(tree, top, f)
            if src is None:
                continue
            os.makedirs(os.path.join(tmp, os.path.dirname(f)), exist_ok=True)
            with open(os.path.join(tmp, f), "w") as fh:
                fh.write(src)
        for f in scripts:
            r = subprocess.run(["shellcheck", "-x", f], cwd=tmp, capture_output=True, text=True)
            if r.returncode:
                out = r.stdout.strip() or r.stderr.strip()
                bad.append(f"{f}: {out.splitlines()[0] if out else 'shellcheck failed'}")
    return bad, f"{len(scripts)} scripts clean"


def _make(tree, obj, ar, *targets, logfile=None, what="", jobs=None, base=None):
    return run(kernel.make_cmd(tree, obj, ar, *targets, jobs=jobs, base=base), what, logfile=logfile)


def check_mbox(tree, patches, start, base):
    """The patches as one mbox, applied with git am to a pristine copy of
    the tree at 'start', the way a maintainer applies a saved thread (in
    the worktree the compile check uses, which checks out its own
    commits after this)."""
    wt = _worktree(tree)
    git(wt, "checkout", "-q", "-f", "--detach", start)
    mbox = os.path.join(BUILD, "compile", f"{base}.mbox")
    os.makedirs(os.path.dirname(mbox), exist_ok=True)
    with open(mbox, "w") as out:
        for p in patches:
            with open(p) as f:
                out.write(f.read())
    r = subprocess.run(["git", "-C", wt, "-c", "user.name=check", "-c", "user.email=check@localhost",
                        "am", "-q", "--whitespace=error", mbox], capture_output=True, text=True)
    try:
        if r.returncode:
            err = (r.stderr or r.stdout).strip().splitlines()
            return [f"git am stopped: {err[0] if err else 'no message'}"], ""
        n = int(git(wt, "rev-list", "--count", f"{start}..HEAD"))
        if n != len(patches):
            return [f"git am made {n} commits of {len(patches)} patches"], ""
        version = git(wt, "log", "-1", "--format=%s", start)
        return [], f"{n} patches as one mbox applied with git am to {version}"
    finally:
        subprocess.run(["git", "-C", wt, "am", "--abort"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        git(wt, "checkout", "-q", "-f", "--detach", start)


def _worktree(tree):
    """TREE-compile: a second worktree of the prepared tree, for git am and
    the compile check (the prepared tree itself stays on its branch)."""
    wt = tree + "-compile"
    if not os.path.exists(os.path.join(wt, "Makefile")):
        subprocess.run(["git", "-C", tree, "worktree", "prune"], check=True)
        git(tree, "worktree", "add", "-q", "--detach", "-f", wt, "base")
    return wt


def build_unit(tree, f):
    """The file make compiles for f: f itself, or the .c file of the same
    directory that includes it when its Makefile does not name f's object
    (kernel/sched/deadline.c is built through build_policy.c)."""
    d, name = os.path.split(f)
    mk = os.path.join(tree, d, "Makefile")
    obj = name[:-2] + ".o"
    if not name.endswith(".c") or not os.path.exists(mk) or obj in open(mk).read():
        return f
    for other in sorted(glob.glob(os.path.join(tree, d, "*.c"))):
        if f'#include "{name}"' in open(other, errors="replace").read():
            return os.path.join(d, os.path.basename(other))
    return f


def check_bisect(tree, base, commits, files, arches=None):
    """Compile the touched files at every commit, for every architecture.

    One object directory per base and architecture: build/compile/BASE/ARCH.
    """
    wt = _worktree(tree)
    bad, done, skipped = [], 0, 0
    changed = {c: git(tree, "diff-tree", "--no-commit-id", "--name-only", "-r", c).split() for c in commits}
    # Kernel sources only: tools/ (the kselftest) is built by its own
    # script, which the lab runs. Assembler files of arch/ too.
    cfiles = [f for f in files if (f.endswith(".c") or f.startswith("arch/") and f.endswith(".S")) and
              not f.startswith(("tools/", "scripts/", "samples/", "usr/", "Documentation/"))]
    for name, _, ar, defconfig, adir, need, bases in ARCHES:
        if arches is not None and name not in arches:
            continue
        if bases and base not in bases:
            continue
        chroot = kernel.uses_chroot(ar, base)
        if ar.llvm and not chroot and not shutil.which(f"clang{ar.llvm}"):
            bad.append(f"{name}: clang{ar.llvm} is not installed (make deps)")
            continue
        objs = sorted({build_unit(wt, f)[:-2] + ".o" for f in cfiles
                       if (not f.startswith("arch/") or f.startswith(adir)) and name in ONLY_ON.get(f, (name,))})
        if not objs:
            continue
        if chroot:
            # Made here, when an arch that needs it is compiled, and only
            # then (make check compiles 6.1 for x86_64 only).
            try:
                kernel.make_chroot(ar)
            except LabError as e:
                bad.append(str(e))
                continue
        obj = os.path.join(BUILD, "compile", base, name)
        logf = os.path.join(BUILD, "compile", base, f"{name}.log")
        os.makedirs(obj, exist_ok=True)
        t = time.monotonic()
        git(wt, "checkout", "-q", "-f", "base")
        if not os.path.exists(os.path.join(obj, ".config")):
            _make(wt, obj, ar, defconfig, logfile=logf, what=f"{name}: {defconfig}", base=base)
            frag = os.path.join(obj, "check.config")
            with open(frag, "w") as fh:
                fh.write("\n".join(NEED + need) + "\n")
            run([os.path.join(wt, "scripts/kconfig/merge_config.sh"), "-m", "-O", obj,
                 os.path.join(obj, ".config"), frag], f"{name}: config", logfile=logf)
            _make(wt, obj, ar, "olddefconfig", logfile=logf, what=f"{name}: olddefconfig", base=base)
        cfg = open(os.path.join(obj, ".config")).read()
        missing = [o for o in NEED + need if o not in cfg.splitlines()]
        if missing:
            bad.append(f"{name}: {defconfig} lacks {missing}")
            continue
        log(f"compile check {name}: preparing" +
            (f", with {ar.chroot_cross}gcc in {kernel.chroot_dir(ar)}" if chroot else ""))
        _make(wt, obj, ar, "prepare", logfile=logf, what=f"{name}: make prepare", base=base)
        for i, c in enumerate(commits, 1):
            # A commit that changes nothing this arch compiles leaves its
            # build as the commit before left it: nothing to compile.
            if not any(_compiled_for(f, name, adir) for f in changed[c]):
                skipped += 1
                continue
            git(wt, "checkout", "-q", "-f", c)
            try:
                # One job: Kbuild's single-target build can reach an object
                # through two directories (arm: arch/arm/mach-mvebu/pmsu.o
                # through arch/arm/mach-mvebu/ and through arch/arm/'s
                # pattern rule), and two compilers writing one object at
                # once make ccache fail ("failed to stat ... pmsu.o").
                _make(wt, obj, ar, *objs, logfile=logf, jobs=1, base=base,
                      what=f"{name}: patch {i}/{len(commits)}")
                done += 1
            except LabError as e:
                # The next commit's build would overwrite this log.
                kept = f"{logf[:-4]}-patch{i}.log"
                shutil.copy(logf, kept)
                bad.append(f"{name}: patch {i} ({git(wt, 'log', '-1', '--format=%s', c).strip()}) "
                           f"does not compile: {_first_error(kept) or str(e).splitlines()[-1]} "
                           f"(log: {kept})")
        log(f"compile check {name}: {len(commits)} commits x {len(objs)} files "
            f"in {fmt_secs(time.monotonic() - t)}")
    return bad, (f"{done} commit/arch builds of {len(cfiles)} touched source files"
                 + (f" ({skipped} commit/arch pairs change nothing that arch compiles)" if skipped else ""))


def _first_error(logfile):
    """The first compiler or linker error in a make log, not make's own
    closing line."""
    try:
        with open(logfile, errors="replace") as f:
            for line in f:
                if re.search(r"\berror\b|undefined reference|No rule to make target", line) \
                        and not line.startswith("make"):
                    return line.strip()
    except OSError:
        pass
    return ""


def _compiled_for(f, name, adir):
    """Whether a file a commit changes can change what arch 'name' compiles."""
    if f.startswith(("tools/", "Documentation/", "samples/")):
        return False
    if f.startswith("arch/") and not f.startswith(adir):
        return False
    return name in ONLY_ON.get(f, (name,))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default=kernel.SERIES_BASE)
    ap.add_argument("--skip", default="", help="comma list of checks to skip")
    ap.add_argument("--rfc", action="store_true", help="check the RFC series instead (arm64, riscv64)")
    ap.add_argument("--fix", help="check fixes/FIX instead (on the base)")
    ap.add_argument("--arches", default="", help="compile for these architectures only (comma "
                    "list; default: every one the series or fix needs)")
    a = ap.parse_args()
    top = "series"
    try:
        if a.fix:
            tree = kernel.prepare_fix(a.base, a.fix)
            top = f"fix-{a.fix}"
            sdir, rng, label = kernel.fix_dir(a.fix), f"base..{top}", ""
            ftouched = touched(tree, rng)
            arches = None if any(not f.startswith("arch/") for f in ftouched) else \
                tuple(n for n, _, _, _, adir, _, _ in ARCHES if any(f.startswith(adir) for f in ftouched))
        elif a.rfc:
            tree = kernel.prepare_rfc(a.base)
            sdir, rng, arches, label = kernel.rfc_dir(a.base), "series..rfc", archmod.names_with("rfc", "yes"), "rfc "
        else:
            tree = kernel.prepare_tree(a.base)
            sdir, rng, arches, label = kernel.series_dir(a.base), "base..series", None, ""
        if a.arches:
            only = tuple(x for x in a.arches.split(",") if x)
            unknown = [x for x in only if x not in [n for n, *_ in ARCHES]]
            if unknown:
                raise LabError(f"--arches: unknown architecture(s) {', '.join(unknown)}; "
                               f"known: {', '.join(n for n, *_ in ARCHES)}")
            arches = tuple(x for x in (arches or only) if x in only)
        patches = sorted(p for p in glob.glob(os.path.join(sdir, "[0-9][0-9][0-9][0-9]-*.patch"))
                         if not p.endswith("0000-cover-letter.patch"))
        files = touched(tree, rng)
        commits = git(tree, "rev-list", "--reverse", rng).split()
        start = "series" if a.rfc else "base"
        checks = [("checkpatch", lambda: check_checkpatch(tree, patches)),
                  ("mbox", lambda: check_mbox(tree, patches, start, a.base)),
                  ("kernel-doc", lambda: check_kerneldoc(tree, files, top)),
                  ("rst", lambda: check_rst(tree, files, top)),
                  ("shellcheck", lambda: check_shellcheck(tree, files, top)),
                  ("bisect", lambda: check_bisect(tree, a.base, commits, files, arches))]
        passed = failed = 0
        for name, fn in checks:
            if name in a.skip.split(","):
                print(f"{name:11} skipped (--skip)")
                continue
            bad, summary = fn()
            if bad:
                failed += 1
                print(f"{name:11} FAIL")
                for b in bad:
                    print(f"  {b}")
            else:
                passed += 1
                print(f"{name:11} ok: {summary}")
        what = f"fix {a.fix} checks" if a.fix else f"{label}series checks"
        only = f", compiled for {','.join(arches)} only" if a.arches else ""
        print(f"{what} ({a.base}{only}): {passed} passed, {failed} failed")
        return 1 if failed else 0
    except LabError as e:
        print(f"check_series: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
