"""scripts/check_series.py: which commits each architecture compiles."""

import importlib.util
import os
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
spec = importlib.util.spec_from_file_location("check_series", os.path.join(ROOT, "scripts", "check_series.py"))
cs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cs)


class CompiledFor(unittest.TestCase):
    def test_other_arch_docs_and_tools_change_nothing(self):
        self.assertFalse(cs._compiled_for("arch/powerpc/kexec/core_64.c", "x86_64", "arch/x86/"))
        self.assertFalse(cs._compiled_for("Documentation/core-api/cpu_hotplug.rst", "arm64", "arch/arm64/"))
        self.assertFalse(cs._compiled_for("tools/testing/selftests/kexec/x.c", "arm64", "arch/arm64/"))
        self.assertFalse(cs._compiled_for("drivers/tty/hvc/hvc_dcc.c", "x86_64", "arch/x86/"))

    def test_own_arch_and_common_code_count(self):
        self.assertTrue(cs._compiled_for("arch/arm64/kernel/machine_kexec.c", "arm64", "arch/arm64/"))
        self.assertTrue(cs._compiled_for("include/linux/cpu.h", "x86_64", "arch/x86/"))
        self.assertTrue(cs._compiled_for("drivers/tty/hvc/hvc_dcc.c", "arm", "arch/arm/"))

    def test_arch_table_comes_from_lab_arch(self):
        names = [a[0] for a in cs.ARCHES]
        self.assertIn("loongarch64", names)
        self.assertIn("x86_64", names)


if __name__ == "__main__":
    unittest.main()
