"""Debian's jupyter_kernel_test against an installed gompi kernelspec.

The kernelspec name comes from $GOMPI_KERNEL_NAME, so the same samples run at
1 rank and at 4 ranks. Every attribute the suite knows is set to real Go, so
no test is skipped.
"""
import os
import unittest

import jupyter_kernel_test as jkt


class GompiKernelTests(jkt.KernelTests):
    kernel_name = os.environ.get("GOMPI_KERNEL_NAME", "gompi")
    language_name = "go"
    file_extension = ".go"

    code_hello_world = 'fmt.Println("hello, world")'
    code_stderr = 'fmt.Fprintln(os.Stderr, "to stderr")'

    # Matches replace the text from cursor_start, which after "pkg." is the
    # start of the member name (as IPython's jedi completions do).
    completion_samples = [
        {"text": "strings.ToUpp", "matches": ["ToUpper", "ToUpperSpecial"]},
        {"text": "fmt.Sprint", "matches": ["Sprint", "Sprintf", "Sprintln"]},
        {"text": "mpi.Allred", "matches": ["Allreduce"]},
    ]

    complete_code_samples = ['fmt.Println("x")', "x := 1", "func f() int { return 1 }"]
    incomplete_code_samples = ["func f() {", "for i := 0; i < 3; i++ {", 'fmt.Println("a",']
    invalid_code_samples = ["}}", "x := )"]

    code_generate_error = 'panic("boom")'

    code_execute_result = [
        {"code": "1 + 2", "result": "3"},
        {"code": '"go" + "mpi"', "result": '"gompi"'},
        {"code": "mpi.Size() > 0", "result": "true"},
    ]
    code_history_pattern = "1 + *"
    supported_history_operations = ("tail", "range", "search")

    code_inspect_sample = "strings.ToUpper"

    # "name?" shows help in the pager, as in IPython.
    code_page_something = "strings.ToUpper?"

    code_display_data = [
        {"code": 'display.HTML("<b>bold</b>")', "mime": "text/html"},
        {"code": 'display.Markdown("# title")', "mime": "text/markdown"},
        {"code": 'display.SVG(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>`)', "mime": "image/svg+xml"},
    ]

    code_clear_output = 'fmt.Println("soon gone"); display.Clear(false)'


if __name__ == "__main__":
    unittest.main(verbosity=2)
