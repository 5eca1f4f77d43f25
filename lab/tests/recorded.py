"""Recorded console logs in data/ and variants derived from them."""

import os

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def load(name):
    with open(os.path.join(DATA, name), errors="replace") as f:
        return f.read()


def x86_silent_reset():
    """The recorded x86 chain and the same chain cut where a kexec'd
    kernel, the real BSP left halted, would end the VM silently."""
    text = load("x86_64-bsp-disabled.log")
    return text, text[:text.index("Unpacking initramfs...", text.index("Disabling real BSP"))]
