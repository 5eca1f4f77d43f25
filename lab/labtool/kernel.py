"""Configure and build kernels, and the guest's initramfs.

The only module that knows about make, compilers and Debian packages.

One object directory per (base, arch) serves both kernels: the base build
comes first, then the series is checked out in the same source tree and
make rebuilds only what the series touched. Built images are kept under
build/images/<base>/<arch>/<kernel>/ with a stamp of the commit and config
they were built from, so a second run rebuilds nothing.

The base tree is made from Debian's linux-source-<base> tarball
(scripts/tree.sh), and made again when that tarball changes (a new
Debian version): tree_source() gives the exact version the lab reports.
"""

import glob
import hashlib
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys

from . import qemu
from .util import BUILD, LAB, ROOT, BuildError, ConfigError, LabError, log, run, fmt_secs

KERNELS = ("base", "patched")
# The series in series/ is against SERIES_BASE; the others are backports
# in backports/<base>/ (the Makefile and scripts/tree.sh say the same).
SERIES_BASE = "7.3"
BASES = ("7.3", "6.12", "6.1")
# The RFC series on top of the series (make bench, make torture only;
# make check never builds it). Branch 'rfc' in the same tree.
RFC = "rfc"
RFC_DIRS = {"7.3": "fast-teardown"}
REVS = {"base": "base", "patched": "series", RFC: "rfc"}


def series_dir(base):
    return os.path.join(ROOT, "series") if base == SERIES_BASE else os.path.join(ROOT, "backports", base)


def source(base):
    """The tarball a base tree is made from (scripts/tree.sh source):
    {"tarball", "package", "debian_version", "id"}; id changes with the file."""
    out = subprocess.run(["sh", os.path.join(ROOT, "scripts", "tree.sh"), "source", base],
                         capture_output=True, text=True)
    if out.returncode:
        raise ConfigError(out.stderr.strip().replace("tree.sh: error: ", "") or f"no source for {base}")
    return dict(l.split("=", 1) for l in out.stdout.splitlines() if "=" in l)


def tree_source(tree):
    """What a prepared tree's 'base' is: {"kernel_version": "6.12.118",
    "source_package": "linux-source-6.12", "source_version": "6.12.118-1~deb12u1"}.

    The kernel version is VERSION.PATCHLEVEL.SUBLEVEL (and EXTRAVERSION, if
    any) of the base's top Makefile; the package and its Debian version
    are what scripts/tree.sh recorded when it imported the tarball (empty
    for a user's tree, make validate).
    """
    try:
        mk = git(tree, "show", "base:Makefile")
    except (subprocess.CalledProcessError, OSError):
        raise LabError(f"{tree}: no 'base' to read the kernel version from")
    v = {k: (re.search(rf"^{k}\s*=[ \t]*(\S*)", mk, re.M) or [None, ""])[1]
         for k in ("VERSION", "PATCHLEVEL", "SUBLEVEL", "EXTRAVERSION")}
    ver = ".".join(v[k] for k in ("VERSION", "PATCHLEVEL", "SUBLEVEL") if v[k]) + v["EXTRAVERSION"]

    def conf(key):
        r = subprocess.run(["git", "-C", tree, "config", key], capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else ""
    return {"kernel_version": ver, "source_package": conf("lab.package"),
            "source_version": conf("lab.debianVersion")}


def describe(src):
    """'Linux 6.12.118 (Debian linux-source-6.12 6.12.118-1~deb12u1)' from tree_source()."""
    out = f"Linux {src['kernel_version']}"
    if src.get("source_package"):
        out += f" (Debian {src['source_package']} {src['source_version']})"
    return out


def tree_dir(base):
    return os.path.join(BUILD, "tree", base)


def git(tree, *args):
    return subprocess.run(["git", "-C", tree, *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def rfc_dir(base):
    name = RFC_DIRS.get(base)
    return os.path.join(ROOT, "rfc", name) if name else None


def prepare_rfc(base):
    """Branch 'rfc' = 'series' + rfc/<name>/ (scripts/tree.sh rfc), for the bases with an RFC."""
    tree = prepare_tree(base)
    rdir = rfc_dir(base)
    if not rdir or not glob.glob(os.path.join(rdir, "0001-*.patch")):
        raise ConfigError(f"no RFC series for base {base} (have: {', '.join(RFC_DIRS)})")
    digest = hashlib.sha256(git(tree, "rev-parse", "series").encode())
    return _apply_once(tree, rdir, digest, "rfc", os.path.join(BUILD, f"tree-{base}-rfc.stamp"),
                       ["rfc", rdir, tree], f"preparing branch rfc in the {base} tree",
                       f"applying {rdir} on top of the series")


def fix_dir(name):
    return os.path.join(ROOT, "fixes", name)


def fix_names():
    d = os.path.join(ROOT, "fixes")
    return sorted(n for n in os.listdir(d) if glob.glob(os.path.join(d, n, "0001-*.patch"))) \
        if os.path.isdir(d) else []


def prepare_fix(base, name):
    """Branch 'fix-<name>' = 'base' + fixes/<name>/ (scripts/tree.sh fix):
    a fix the lab found outside the series, compared with the pristine base."""
    tree = prepare_tree(base)
    if name not in fix_names():
        raise ConfigError(f"no fix '{name}' in fixes/ (have: {', '.join(fix_names()) or 'none'})")
    fdir = fix_dir(name)
    digest = hashlib.sha256(git(tree, "rev-parse", "base").encode())
    return _apply_once(tree, fdir, digest, f"fix-{name}", os.path.join(BUILD, f"tree-{base}-fix-{name}.stamp"),
                       ["fix", fdir, tree], f"preparing branch fix-{name} in the {base} tree",
                       f"applying {fdir} to the base")


def _apply_once(tree, pdir, digest, branch, stampf, args, message, what):
    """Run scripts/tree.sh with args unless branch exists and the patches
    in pdir (on top of what digest holds already) are those of the last time."""
    for p in sorted(glob.glob(os.path.join(pdir, "*.patch"))):
        with open(p, "rb") as f:
            digest.update(f.read())
    stamp = digest.hexdigest()
    if os.path.exists(stampf) and open(stampf).read() == stamp and \
            subprocess.call(["git", "-C", tree, "rev-parse", "-q", "--verify", branch],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0:
        return tree
    log(message)
    run(["sh", os.path.join(ROOT, "scripts", "tree.sh"), *args], what)
    with open(stampf, "w") as f:
        f.write(stamp)
    return tree


def prepare_tree(base):
    """The base tree with the series as branch 'series' (scripts/tree.sh)."""
    if base not in BASES:
        raise ConfigError(f"unknown base '{base}'; supported: {', '.join(BASES)}")
    sdir = series_dir(base)
    if not glob.glob(os.path.join(sdir, "0001-*.patch")):
        raise ConfigError(f"no series for base {base} in {sdir}")
    tree = tree_dir(base)
    # Re-apply only when the series files or the tarball (scripts/tree.sh
    # then makes the tree again) changed since the last time.
    digest = hashlib.sha256(source(base)["id"].encode())
    return _apply_once(tree, sdir, digest, "series", os.path.join(BUILD, f"tree-{base}.stamp"),
                       ["tree", base, sdir, tree], f"preparing the {base} tree with the series",
                       f"applying the series to {base}")


def fragments(arch, base=None):
    """common.config, <arch>.config, and base-<base>.config and
    <arch>-<base>.config where they exist: options of one base only."""
    d = os.path.join(LAB, "config")
    frags = [os.path.join(d, "common.config"), os.path.join(d, f"{arch.name}.config")]
    if base:
        frags += [p for p in (os.path.join(d, f"base-{base}.config"),
                              os.path.join(d, f"{arch.name}-{base}.config")) if os.path.exists(p)]
    return frags


def fragment(name):
    """lab/config/<name>.config, which must exist."""
    p = os.path.join(LAB, "config", f"{name}.config")
    if not os.path.exists(p):
        raise ConfigError(f"no config fragment {p}")
    return p


def wanted_options(paths):
    opts = {}
    for p in paths:
        for line in open(p):
            m = re.match(r"(CONFIG_\w+)=(.*)", line.strip())
            if m:
                opts[m.group(1)] = m.group(2)
            m = re.match(r"# (CONFIG_\w+) is not set", line.strip())
            if m:
                opts[m.group(1)] = "n"
    return opts


def check_config(dotconfig, opts):
    """Every option the fragments ask for must have made it into .config."""
    have = {}
    for line in open(dotconfig):
        m = re.match(r"(CONFIG_\w+)=(.*)", line.strip())
        if m:
            have[m.group(1)] = m.group(2)
    bad = [f"{k}={v} (got {have.get(k, 'n')})" for k, v in opts.items()
           if have.get(k, "n") != v]
    if bad:
        raise ConfigError(f"{dotconfig}: options not applied (missing dependency?): " + ", ".join(bad))


def uses_chroot(arch, base):
    """Whether base is compiled for arch in its chroot (chroot_bases in
    the arch's .conf); without a base (the lab's kernels), never."""
    return bool(base) and base in getattr(arch, "chroot_bases", ())


def chroot_dir(arch):
    """Where scripts/make-chroot.sh makes the arch's chroot: cache/, which
    'make clean' keeps."""
    cache = os.environ.get("LAB_CACHE") or os.path.join(ROOT, "cache")
    return os.path.join(cache, "chroot", arch.name)


def make_chroot(arch):
    """Make the arch's chroot unless it is there already (the script
    returns at once then); its progress goes to stderr."""
    if os.geteuid() != 0:
        raise LabError(f"{arch.name}: compiling in the {arch.chroot_suite} chroot needs root "
                       f"(debootstrap, and unshare, mount and chroot for every make)")
    rc = subprocess.call(["sh", os.path.join(ROOT, "scripts", "make-chroot.sh"), arch.name,
                          arch.chroot_suite, *arch.chroot_packages], stdout=sys.stderr)
    if rc:
        raise LabError(f"{arch.name}: could not make the {arch.chroot_suite} chroot "
                       f"{chroot_dir(arch)} (scripts/make-chroot.sh exit {rc}, its error above)")
    return chroot_dir(arch)


# Run by unshare in a mount namespace of its own: bind every directory
# between $1 and -- at the same path inside the chroot $1, then chroot
# there. The mounts end with the namespace, when make does.
IN_CHROOT = ('r=$1; shift; while [ "$1" != -- ]; do '
             'mkdir -p "$r$1" && mount --bind "$1" "$r$1" || exit 125; shift; done; '
             'shift; exec chroot "$r" "$@"')


def _outermost(paths):
    """paths without those inside another of them."""
    out = []
    for p in sorted({os.path.abspath(p) for p in paths}, key=len):
        if not any(p == d or p.startswith(d.rstrip(os.sep) + os.sep) for d in out):
            out.append(p)
    return out


def make_cmd(tree, obj, arch, *targets, jobs=None, base=None):
    """The kernel's make for arch, with ccache when there is one.

    llvm in the arch's .conf: Debian's clang and LLVM tools of that suffix
    (LLVM=-19) instead of a cross gcc. On the arch's chroot_bases (make
    static passes base): its chroot_cross gcc, in its chroot (make_chroot()
    makes it), with the project, build/, the tree and the object directory
    bound at the same paths inside, so that every path on make's command
    line and in its output is the one outside; no ccache there (none is
    installed in it).
    """
    chroot = uses_chroot(arch, base)
    if chroot:
        tools, cc = [f"CROSS_COMPILE={arch.chroot_cross}"], f"{arch.chroot_cross}gcc"
    elif getattr(arch, "llvm", ""):
        tools, cc = [f"LLVM={arch.llvm}"], f"clang{arch.llvm}"
    else:
        tools, cc = [f"CROSS_COMPILE={arch.cross}"], f"{arch.cross}gcc"
    if shutil.which("ccache") and not chroot:
        cc = f"ccache {cc}"
    make = ["make", "-s", "-C", tree, f"O={obj}", f"ARCH={arch.karch}",
            *tools, f"CC={cc}", f"-j{jobs or os.cpu_count() or 2}", *targets]
    if not chroot:
        return make
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", IN_CHROOT, "in-chroot",
            chroot_dir(arch), *_outermost([ROOT, BUILD, tree, obj]), "--", *make]


def image_dir(base, arch, kernel):
    return os.path.join(BUILD, "images", base, arch.name, kernel)


def build(base, arch, kernel, tree=None, kconfig=None, label=None, extra=()):
    """Build one kernel; return the directory with its image and vmlinux.

    tree/kconfig/label let 'make validate' build a user's tree: the tree
    must have branches or tags 'base' and 'series' (see prepare_user_tree).
    extra: names of more fragments in lab/config/ (a scenario's own
    options); such kernels get an object directory of their own, so that
    the plain ones stay incremental.
    """
    tree = tree or tree_dir(base)
    label = (label or base) + "".join(f"+{x}" for x in extra)
    rev = REVS.get(kernel, kernel)    # fix-<name>: the branch of prepare_fix()
    frags = fragments(arch, base) + [fragment(x) for x in extra]
    obj = os.path.join(BUILD, "obj", label, arch.name)
    out = os.path.join(BUILD, "images", label, arch.name, kernel)
    commit = git(tree, "rev-parse", rev)
    h = hashlib.sha256(commit.encode())
    for p in frags + ([kconfig] if kconfig else []):
        h.update(open(p, "rb").read())
    dtb = builtin_dtb(arch)
    if dtb:
        h.update(open(dtb, "rb").read())
    stamp = h.hexdigest()
    stampf = os.path.join(out, "stamp")
    if os.path.exists(stampf) and open(stampf).read() == stamp:
        log(f"{label} {arch.name} {kernel}: up to date")
        return out
    git(tree, "checkout", "-q", "-f", rev)
    os.makedirs(obj, exist_ok=True)
    if dtb:
        # Where CONFIG_BUILTIN_DTB_NAME makes Kbuild look for it.
        d = os.path.join(obj, "arch", arch.karch, "boot", "dts")
        os.makedirs(d, exist_ok=True)
        shutil.copy(dtb, os.path.join(d, f"{arch.builtin_dtb}.dtb"))
    what = f"building {label} {arch.name} {kernel}"
    log(what + (" (incremental: only what differs from the last build)" if kernel != "base" and
                os.path.exists(os.path.join(obj, "vmlinux")) else ""))
    logf = os.path.join(BUILD, "obj", label, f"{arch.name}-{kernel}.log")
    if kconfig:
        shutil.copy(kconfig, os.path.join(obj, ".config"))
        base_cfg = [os.path.join(obj, ".config")]
    else:
        run(make_cmd(tree, obj, arch, "tinyconfig"), f"{what}: tinyconfig", logfile=logf)
        base_cfg = [os.path.join(obj, ".config")]
    run([os.path.join(tree, "scripts", "kconfig", "merge_config.sh"), "-m", "-O", obj,
         *base_cfg, *frags], f"{what}: merging config fragments", logfile=logf)
    run(make_cmd(tree, obj, arch, "olddefconfig"), f"{what}: olddefconfig", logfile=logf)
    check_config(os.path.join(obj, ".config"), wanted_options(frags))
    secs = run(make_cmd(tree, obj, arch), what, logfile=logf)
    log(f"{what}: done in {fmt_secs(secs)}")
    os.makedirs(out, exist_ok=True)
    shutil.copy(os.path.join(obj, arch.image), os.path.join(out, "image"))
    shutil.copy(os.path.join(obj, "vmlinux"), os.path.join(out, "vmlinux"))
    shutil.copy(os.path.join(obj, ".config"), os.path.join(out, "config"))
    with open(os.path.join(out, "build-seconds"), "w") as f:
        f.write(f"{secs:.0f}\n")
    with open(stampf, "w") as f:
        f.write(stamp)
    return out


# --- the guest ---------------------------------------------------------------

def builtin_dtb(arch):
    """QEMU's device tree for the arch's kernels to carry, or None."""
    if not getattr(arch, "builtin_dtb", ""):
        return None
    src = qemu.dump_dtb(arch, arch.builtin_dtb_smp)
    out = src[:-len("-qemu.dtb")] + "-builtin.dtb"
    if not os.path.exists(out):
        # Without QEMU's rng-seed, which changes with every dump: built in,
        # every boot would be seeded with the same bytes.
        shutil.copy(src, out + ".tmp")
        if subprocess.run(["fdtget", out + ".tmp", "/chosen", "rng-seed"], capture_output=True).returncode == 0:
            run(["fdtput", "-d", out + ".tmp", "/chosen", "rng-seed"], f"{arch.name}: device tree without rng-seed")
        os.rename(out + ".tmp", out)
    return out


def nolibc_flags(arch, out):
    """Compiler flags for a guest built against the kernel's nolibc.

    nolibc and the UAPI headers come from the series' base tree, which the
    lab prepares anyway; the headers are installed once into out/.
    """
    tree = tree_dir(SERIES_BASE)
    if not os.path.isdir(os.path.join(tree, "tools", "include", "nolibc")):
        raise BuildError(f"{arch.name}: the guest is built against nolibc from {tree}; "
                         f"prepare it first (make tree BASE={SERIES_BASE})")
    hdr = os.path.join(out, "headers")
    if not os.path.exists(os.path.join(hdr, "usr", "include", "linux", "types.h")):
        run(make_cmd(tree, hdr, arch, "headers"), f"{arch.name}: UAPI headers for the guest")
    return ["-nostdlib", "-nostdinc", "-ffreestanding", "-fno-stack-protector",
            "-isystem", os.path.join(tree, "tools", "include", "nolibc"),
            "-isystem", os.path.join(hdr, "usr", "include"), "-include", "nolibc.h"]


def guest_init(arch):
    out = os.path.join(BUILD, "guest", arch.name)
    os.makedirs(out, exist_ok=True)
    exe = os.path.join(out, "init")
    src = os.path.join(LAB, "guest", "init.c")
    deps = [src, os.path.join(LAB, "guest", "nolibc-compat.h")]
    if not os.path.exists(exe) or os.path.getmtime(exe) < max(os.path.getmtime(d) for d in deps):
        libc = nolibc_flags(arch, out) if getattr(arch, "guest_libc", "") == "nolibc" else []
        run([*arch.guest_cc.split(), *libc, "-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o", exe, src],
            f"compiling the guest init for {arch.name}")
    return exe


def _needed(path):
    """(interpreter, [NEEDED sonames]) of an ELF file, from readelf."""
    out = subprocess.run(["readelf", "-d", "-l", path], capture_output=True, text=True).stdout
    interp = re.search(r"Requesting program interpreter: (\S+)\]", out)
    return (interp.group(1) if interp else None,
            re.findall(r"\(NEEDED\)\s+Shared library: \[(\S+)\]", out))


def _kexec_binary(root):
    for p in ("usr/sbin/kexec", "sbin/kexec"):
        if os.path.exists(os.path.join(root, p)):
            return os.path.join(root, p)
    return None


def _deb_root(arch):
    """Where Debian's kexec-tools for arch is: / for the host's, else unpacked."""
    if not arch.deb_arch:
        return None
    if arch.deb_arch == "amd64":
        return "/"
    root = os.path.join(BUILD, "debs", arch.deb_arch)
    return root if _kexec_binary(root) else None


def kexec_tools(arch):
    """Files for Debian's kexec-tools in the guest: {guest path: host path}."""
    root = _deb_root(arch)
    kexec = _kexec_binary(root) if root else None
    if not kexec:
        return None
    dirs = []
    for d in ("lib", "usr/lib"):
        dirs += glob.glob(os.path.join(root, d, "*-linux-gnu*"))
    dirs += arch.lib_dirs
    files = {"/sbin/kexec": kexec}
    todo = [kexec]
    while todo:
        interp, libs = _needed(todo.pop())
        if interp and interp not in files:
            hit = next((os.path.join(d, os.path.basename(interp)) for d in dirs
                        if os.path.exists(os.path.join(d, os.path.basename(interp)))), None)
            if not hit:
                raise BuildError(f"kexec-tools for {arch.name}: interpreter {interp} not found")
            files[interp] = hit
        for lib in libs:
            hit = next((os.path.join(d, lib) for d in dirs if os.path.exists(os.path.join(d, lib))), None)
            if not hit:
                raise BuildError(f"kexec-tools for {arch.name}: library {lib} not found in {dirs}")
            gpath = "/lib/" + lib
            if gpath not in files:
                files[gpath] = hit
                todo.append(hit)
    return files


def _cpio_entry(out, name, mode, data=b"", rdev=(0, 0), ino=[0]):
    ino[0] += 1
    hdr = "070701" + "".join(f"{v:08X}" for v in (
        ino[0], mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0))
    out.write(hdr.encode() + name.encode() + b"\0")
    out.write(b"\0" * (-out.tell() % 4))
    out.write(data)
    out.write(b"\0" * (-out.tell() % 4))


def write_cpio(path, entries):
    """entries: [(guest path, mode, data bytes or None, rdev)] -> newc cpio.

    Written next to path and renamed, so that a QEMU starting meanwhile
    never reads half an archive.
    """
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as out:
        for name, mode, data, rdev in entries:
            _cpio_entry(out, name.lstrip("/"), mode, data or b"", rdev)
        _cpio_entry(out, "TRAILER!!!", 0)
    os.replace(tmp, path)


def initramfs(arch, kimage, with_tools=True):
    """The guest's initramfs: init, the kernel to kexec, kexec-tools.

    /lab/manifest lists every path, so that the guest can write the same
    archive for the next generation of a kexec chain.
    """
    init = guest_init(arch)
    files = {"/init": init, "/kernel": kimage}
    tools = kexec_tools(arch) if with_tools else None
    if tools:
        files.update(tools)
    dirs = {"/dev", "/proc", "/sys", "/lab", "/sbin", "/lib"}
    for g in files:
        d = os.path.dirname(g)
        while d not in ("/", ""):
            dirs.add(d)
            d = os.path.dirname(d)
    entries = [(d, stat.S_IFDIR | 0o755, None, (0, 0)) for d in sorted(dirs)]
    entries.append(("/dev/console", stat.S_IFCHR | 0o600, None, (5, 1)))
    manifest = [e[0] for e in entries] + sorted(files) + ["/lab/manifest"]
    for g, h in sorted(files.items()):
        with open(h, "rb") as f:
            entries.append((g, stat.S_IFREG | 0o755, f.read(), (0, 0)))
    entries.append(("/lab/manifest", stat.S_IFREG | 0o644, "\n".join(manifest).encode() + b"\n",
                    (0, 0)))
    out = os.path.join(os.path.dirname(kimage), "initramfs.cpio")
    write_cpio(out, entries)
    return out, bool(tools)


def fetch_kexec_tools(arch):
    """Unpack Debian's kexec-tools for a foreign architecture (no install)."""
    if not arch.deb_arch or _deb_root(arch):
        return
    root = os.path.join(BUILD, "debs", arch.deb_arch)
    dl = os.path.join(BUILD, "debs", f"{arch.deb_arch}.dl")
    os.makedirs(dl, exist_ok=True)
    # apt-get download as root drops to _apt, which must be able to write
    # here (else apt downloads unsandboxed and warns).
    if os.geteuid() == 0:
        try:
            os.chown(dl, pwd.getpwnam("_apt").pw_uid, -1)
        except KeyError:
            pass
    deps = subprocess.run(
        ["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
         "--no-breaks", "--no-replaces", "--no-enhances", f"kexec-tools:{arch.deb_arch}"],
        capture_output=True, text=True)
    if deps.returncode:
        raise LabError(f"apt-cache does not know kexec-tools:{arch.deb_arch}; run 'make deps' "
                       f"(it enables the {arch.deb_arch} architecture)")
    pkgs = sorted({l.strip() for l in deps.stdout.splitlines()
                   if re.match(r"^(kexec-tools|zlib1g|lib[\w.+-]+):" + arch.deb_arch + "$", l.strip())
                   and not re.match(r"^lib(c6|gcc-s1|crypt1|selinux1|pcre2-8-0|gcc1):", l.strip())})
    log(f"downloading kexec-tools for {arch.deb_arch}: {len(pkgs)} packages")
    for attempt in range(3):
        rc = subprocess.call(["apt-get", "download", "-q", *pkgs], cwd=dl,
                             stdout=subprocess.DEVNULL)
        if rc == 0:
            break
    else:
        shutil.rmtree(dl, ignore_errors=True)
        raise LabError(f"downloading kexec-tools:{arch.deb_arch} failed three times")
    tmp = root + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    for deb in glob.glob(os.path.join(dl, "*.deb")):
        run(["dpkg-deb", "-x", deb, tmp], f"unpacking {os.path.basename(deb)}")
    shutil.rmtree(root, ignore_errors=True)
    os.rename(tmp, root)
