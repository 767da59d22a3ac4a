"""trainers/cli_support.py: which start-up lines of TensorFlow are hidden."""

import re

from trainers import cli_support

START_UP = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    "I0000 00:00:1796460864.739958   30715 port.cc:153] oneDNN custom operations are on.\n",
    "I0000 00:00:1796460866.705349   30715 cpu_feature_guard.cc:227] This TensorFlow binary "
    "is optimized to use available CPU instructions in performance-critical operations.\n",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild "
    "TensorFlow with the appropriate compiler flags.\n",
    "W0000 00:00:1796460866.705349   30715 something.cc:1] a warning\n",
    "  its second line\n",
    "E0000 00:00:1796460866.705349   30715 other.cc:2] an error\n",
    "  its second line\n",
]


def test_info_messages_are_dropped_with_their_continuation_lines():
    kept = cli_support._drop_messages(START_UP, re.compile(r"^[I]\d{4} "))
    assert kept == START_UP[4:]


def test_error_level_keeps_errors_only():
    kept = cli_support._drop_messages(START_UP, re.compile(r"^[IW]\d{4} "))
    assert kept == START_UP[6:]
