"""What the programs of trainers/ share.

* Flags are read, `--help` is answered and input files are checked before
  TensorFlow starts: a program calls `defer_package_import()` before it
  imports anything of `keras_geomatch` (the package then leaves TensorFlow
  alone until its public API is used), and `start_tensorflow()` once its
  arguments are checked.
* TensorFlow is quiet: its start-up and SavedModel messages are hidden unless
  `--log_level=info` (or `warning`) asks for them, so that the program's own
  result is its last line.
* `--help` (`-h`, `--helpfull`) prints the help and exits 0 (absl exits 1);
  a usage error (unknown flag, bad value, stray argument) is one line on
  stderr and exit status 2, as for an unreadable input file.
"""

import functools
import logging
import os
import re
import sys
import tempfile

from absl import app
from absl import flags
from absl import logging as absl_logging

HELP_FLAGS = ("-h", "-?", "--help", "--helpshort", "--helpfull")
USAGE_ERROR = 2
# Must match keras_geomatch.DEFER_IMPORT_ENV (the package cannot be imported
# here to read it: that is what the variable is for).
DEFER_IMPORT_ENV = "KERAS_GEOMATCH_DEFER_IMPORT"
LOG_LEVELS = ("error", "warning", "info")
# TF_CPP_MIN_LOG_LEVEL hides C++ messages below: 0 none, 1 INFO, 2 WARNING too.
_CPP_MIN_LOG_LEVEL = {"info": "0", "warning": "1", "error": "2"}
_PYTHON_LEVEL = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_ABSL_LEVEL = {"info": absl_logging.INFO, "warning": absl_logging.WARNING,
               "error": absl_logging.ERROR}
# Lines TensorFlow's C++ start-up writes before its logging is set up, which
# TF_CPP_MIN_LOG_LEVEL does not filter (e.g. "I0000 ... port.cc] oneDNN
# custom operations are on"): severity letter, MMDD, space.
_PRE_INIT_HEADER = "WARNING: All log messages before absl::InitializeLog() is called"
_HIDDEN_SEVERITIES = {"info": "", "warning": "I", "error": "IW"}
# The first line of any C++ log message (severity letter, MMDD, space).
_ANY_HEADER = re.compile(r"^[IWEF]\d{4} ")


def defer_package_import():
    """Imports `keras_geomatch` without TensorFlow (its public API loads on first use).

    Called before anything else of the package is imported; a process the
    program starts later imports the package as usual.
    """
    previous = os.environ.get(DEFER_IMPORT_ENV)
    os.environ[DEFER_IMPORT_ENV] = "1"
    try:
        import keras_geomatch  # noqa: F401
    finally:
        if previous is None:
            del os.environ[DEFER_IMPORT_ENV]
        else:
            os.environ[DEFER_IMPORT_ENV] = previous


def _define_log_level_flag():
    if "log_level" not in flags.FLAGS:
        holder = flags.DEFINE_enum(
            "log_level",
            "error",
            LOG_LEVELS,
            "Messages of TensorFlow and its libraries to show: 'error' (default) hides "
            "their start-up and progress messages, 'warning' adds warnings, 'info' shows "
            "everything. An explicit TF_CPP_MIN_LOG_LEVEL is kept unless this flag is given.",
        )
        # Listed with the program's own flags by --help (absl names the main module by argv[0]).
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS[holder.name])


def _parse_flags(argv):
    """absl's flag parsing, with a one-line error and exit 2 for a bad flag."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(USAGE_ERROR)


def configure_logging(level):
    """Sets TensorFlow's (C++ and Python) and absl's message levels for `--log_level`."""
    if flags.FLAGS["log_level"].present or "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = _CPP_MIN_LOG_LEVEL[level]
    # TensorFlow's Python messages go through its logger or through absl's
    # (e.g. the SavedModel writer's "Sharding callback duration" and
    # "Writing fingerprint"); absl's level is the root logger's, and the
    # SavedModel writer restores it after changing it.
    logging.getLogger("tensorflow").setLevel(_PYTHON_LEVEL[level])
    absl_logging.set_verbosity(_ABSL_LEVEL[level])
    # The package's own warnings stay visible (a program may ask for more).
    package_logger = logging.getLogger("keras_geomatch")
    if package_logger.level == logging.NOTSET:
        package_logger.setLevel(logging.WARNING)


def start_tensorflow():
    """Imports TensorFlow (hiding its start-up lines per `--log_level`) and the whole package.

    In-process callers (tests) that imported TensorFlow already get only
    the package import.
    """
    if "tensorflow" not in sys.modules:
        # Without the flag (a script calling a program's `run`): quiet too.
        level = flags.FLAGS["log_level"].value if "log_level" in flags.FLAGS else "error"
        hidden = _HIDDEN_SEVERITIES[level]
        if hidden:
            _import_filtering_stderr(hidden)
    import keras_geomatch

    keras_geomatch.import_all()


def _import_filtering_stderr(hidden_severities):
    """`import tensorflow` with the C++ start-up lines of those severities dropped.

    They are written to file descriptor 2 directly, so the descriptor is
    pointed at a file during the import; what is not dropped is written out
    afterwards (everything, if the import fails).
    """
    pattern = re.compile(rf"^[{hidden_severities}]\d{{4}} ")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        failed = True
        try:
            import tensorflow  # noqa: F401

            failed = False
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", "replace")
            lines = text.splitlines(keepends=True)
            if not failed:
                lines = _drop_messages(lines, pattern)
            sys.stderr.write("".join(lines))
            sys.stderr.flush()


def _drop_messages(lines, pattern):
    """`lines` without the messages whose first line matches `pattern`.

    A message may go on over several lines (cpu_feature_guard's "To enable
    the following instructions: ..."): lines up to the next header go with it.
    """
    kept, dropping = [], False
    for line in lines:
        if line.startswith(_PRE_INIT_HEADER) or pattern.match(line):
            dropping = True
        elif _ANY_HEADER.match(line):
            dropping = False
        if not dropping:
            kept.append(line)
    return kept


def check_model_argument(value, flag):
    """Raises FileNotFoundError unless `value` names a file or a shipped model (no TensorFlow)."""
    from keras_geomatch import pretrained

    if value is None or os.path.exists(value) or pretrained.is_pretrained_name(value):
        return
    names = ", ".join(sorted(pretrained.list_pretrained()))
    raise FileNotFoundError(
        f"Model file not found: {value} ({flag} takes a .keras file or a shipped model's "
        f"name: {names})"
    )


def _run_main(main, input_errors, argv):
    configure_logging(flags.FLAGS.log_level)
    try:
        return main(argv)
    except app.UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except input_errors as error:
        message = str(error).strip()
        print(f"error: {message.splitlines()[0] if message else repr(error)}", file=sys.stderr)
        return USAGE_ERROR


def run(main, input_errors=()):
    """`app.run(main)` with the behaviour described in the module docstring.

    Args:
        main: `main(argv)` returns the exit status (None: 0).
        input_errors: exception types that `main` raises for a problem of
            the user's input: they end the program with their first line
            on stderr and status 2, without a traceback.
    """
    _define_log_level_flag()
    asked = [arg for arg in sys.argv[1:] if arg in HELP_FLAGS]
    if asked:
        app.usage(shorthelp=asked[0] != "--helpfull", writeto_stdout=True, exitcode=0)
    app.run(functools.partial(_run_main, main, tuple(input_errors)), flags_parser=_parse_flags)
