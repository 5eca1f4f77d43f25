"""Errors, paths and progress output shared by the lab modules."""

import os
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB = os.path.join(ROOT, "lab")
BUILD = os.environ.get("LAB_BUILD", os.path.join(ROOT, "build"))
# ccache keys then hold paths relative to the build directory, so that a
# clone of the project in another folder reuses what an earlier one built.
os.environ.setdefault("CCACHE_BASEDIR", ROOT)


class LabError(Exception):
    """An error the user has to fix; printed as one line, no traceback."""


class ConfigError(LabError):
    pass


class BuildError(LabError):
    pass


def log(msg):
    print(f"lab: {msg}", file=sys.stderr, flush=True)


def fmt_secs(s):
    s = int(s)
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def run(cmd, what, cwd=None, env=None, logfile=None, quiet=False):
    """Run a command; on failure raise BuildError naming what failed.

    A long command prints a progress line every 30 s with the elapsed time.
    With logfile, its output goes there and the last lines are shown on
    failure.
    """
    start = time.monotonic()
    done = threading.Event()

    def ticker():
        while not done.wait(30):
            log(f"{what}: {fmt_secs(time.monotonic() - start)} so far")

    t = threading.Thread(target=ticker, daemon=True)
    t.start()
    try:
        if logfile:
            with open(logfile, "w") as f:
                rc = subprocess.call(cmd, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT)
        else:
            out = subprocess.DEVNULL if quiet else None
            rc = subprocess.call(cmd, cwd=cwd, env=env, stdout=out)
    except FileNotFoundError:
        raise BuildError(f"{what}: '{cmd[0]}' not found (run 'make deps')")
    finally:
        done.set()
    if rc:
        tail = ""
        if logfile:
            with open(logfile, errors="replace") as f:
                tail = "".join(f.readlines()[-15:])
        raise BuildError(f"{what} failed (exit {rc})" + (f"; last lines of {logfile}:\n{tail}" if tail else ""))
    return time.monotonic() - start


def need_tools(*tools):
    missing = [t for t in tools if not any(
        os.access(os.path.join(d, t), os.X_OK) for d in os.environ.get("PATH", "").split(":"))]
    if missing:
        raise LabError(f"missing tools: {', '.join(missing)} (run 'make deps' to install them)")
