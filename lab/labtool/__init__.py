"""The lab: build base and patched kernels, boot them in QEMU, compare.

Data flows one way: kernel (build) -> qemu (run) -> parser (log -> facts)
-> scenarios (facts -> verdict) -> report.
"""
