"""jupyter_kernel_test conformance suite for the installed hpcdl kernel.

Run by test/kernel/conformance.test.ts with Debian's /usr/bin/python3 and
HPCDL_KERNEL_NAME / JUPYTER_PATH pointing at a freshly installed kernel spec.
"""
import os
import unittest

import jupyter_kernel_test as jkt


class HpcdlKernelTests(jkt.KernelTests):
    kernel_name = os.environ.get("HPCDL_KERNEL_NAME", "hpcdl")
    language_name = "typescript"
    file_extension = ".ts"

    code_hello_world = 'console.log("hello, world")'
    code_stderr = 'console.error("to stderr")'

    completion_samples = [
        {"text": "Math.ab", "matches": {"abs"}},
        {"text": "const longVariableName = 1; longVariableN", "matches": {"longVariableName"}},
    ]

    complete_code_samples = ["1 + 1", "let x = 3;", "function f() { return 1; }"]
    incomplete_code_samples = ["function f() {", "const a = [1, 2,"]

    code_execute_result = [
        {"code": "6*7", "result": "42"},
        {"code": "'hpc' + 'dl'", "result": "'hpcdl'"},
        {"code": "[1, 2].map((v) => v * 2)", "result": "[ 2, 4 ]"},
    ]

    code_display_data = [
        {"code": 'import * as tslab from "tslab"; tslab.display.html("<b>hi</b>")', "mime": "text/html"},
        {"code": 'import * as tslab from "tslab"; tslab.display.markdown("**hi**")', "mime": "text/markdown"},
    ]

    code_generate_error = 'throw new Error("boom")'
    code_inspect_sample = "Math.max"

    code_history_pattern = "6*"
    supported_history_operations = ("tail", "range", "search")


if __name__ == "__main__":
    unittest.main(verbosity=2)
