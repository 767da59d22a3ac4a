"""config_flags: absl flags from (nested) dataclasses and configs back from them."""

# String annotations, as a module with postponed evaluation writes them: the
# flag types come from the resolved hints.
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from typing import Literal, Optional, Tuple

import pytest
from absl import flags

from keras_geomatch import config_flags
from keras_geomatch.config_flags import setting

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass(frozen=True)
class Ranges:
    """Ranges of something.

    Attributes:
        max_offset: the largest offset, described in the docstring
            over two lines.
        scale: low,high.
    """

    max_offset: float = 0.4
    scale: Tuple[float, float] = (0.75, 1.25)


BUILT = []


@dataclasses.dataclass(frozen=True)
class Counted:
    """Records each construction (flag definitions must build none)."""

    level: int = setting(3, "A level.")

    def __post_init__(self):
        BUILT.append(self)


@dataclasses.dataclass(frozen=True)
class Config:
    name: str = setting("", "A name.")
    epochs: int = setting(20, "Number of epochs.")
    rate: float = setting(1e-3, "A rate.")
    train: bool = setting(False, "Train it.")
    mode: str = setting("fast", "A mode.", choices=("fast", "slow"))
    kind: Literal["a", "b", "c"] = setting("b", "A kind.")
    steps: Tuple[int, ...] = setting((), "Steps.")
    size: Tuple[int, int] = setting((4, 6), "height,width.")
    decay: Optional[float] = setting(None, "A decay.")
    output: Optional[str] = setting(None, "Where; '' writes nothing.")
    ranges: Ranges = dataclasses.field(default_factory=Ranges, metadata={"flag_prefix": "r_"})
    other: Ranges = dataclasses.field(
        default_factory=lambda: Ranges(max_offset=0.1), metadata={"flag_prefix": "o_"})
    counted: Counted = dataclasses.field(default_factory=Counted)
    renamed: int = dataclasses.field(default=1, metadata={"help": "x", "flag_name": "alias"})
    hidden: int = dataclasses.field(default=5, metadata={"flag_name": None})


NAMES = ["name", "epochs", "rate", "train", "mode", "kind", "steps", "size", "decay", "output",
         "r_max_offset", "r_scale", "o_max_offset", "o_scale", "level", "alias"]


def parse(cls, *args):
    flag_values = flags.FlagValues()
    names = config_flags.define_flags(cls, flag_values)
    flag_values(["prog", *args])
    return flag_values, names


def test_one_flag_per_leaf_field_named_with_the_prefixes():
    _, names = parse(Config)
    assert names == NAMES


def test_the_defaults_give_the_default_config_without_building_one_to_define():
    BUILT.clear()
    flag_values, _ = parse(Config)
    assert BUILT == []  # default_factory=Counted: its class defaults, no __post_init__
    assert config_flags.from_flags(Config, flag_values) == Config()


def test_every_type_parses():
    flag_values, _ = parse(
        Config, "--name=x", "--epochs=3", "--rate=0.5", "--train", "--mode=slow", "--kind=c",
        "--steps=2,5", "--size=8,9", "--decay=0.25", "--output=", "--r_max_offset=0.2",
        "--r_scale=0.5,2", "--o_scale=1,1", "--level=7", "--alias=4")
    config = config_flags.from_flags(Config, flag_values)
    assert config == Config(
        name="x", epochs=3, rate=0.5, train=True, mode="slow", kind="c", steps=(2, 5),
        size=(8, 9), decay=0.25, output="", ranges=Ranges(0.2, (0.5, 2.0)),
        other=Ranges(0.1, (1.0, 1.0)), counted=Counted(7), renamed=4)


@pytest.mark.parametrize("value", ["none", "None", ""])
def test_an_optional_number_takes_none(value):
    flag_values, _ = parse(Config, "--decay=0.5", f"--decay={value}")
    assert config_flags.from_flags(Config, flag_values).decay is None


def test_an_optional_string_keeps_the_empty_string_and_none_when_absent():
    flag_values, _ = parse(Config)
    assert config_flags.from_flags(Config, flag_values).output is None
    flag_values, _ = parse(Config, "--output=")
    assert config_flags.from_flags(Config, flag_values).output == ""


@pytest.mark.parametrize("args", [["--mode=medium"], ["--kind=d"], ["--epochs=x"],
                                  ["--decay=big"], ["--train=maybe"], ["--hidden=2"]])
def test_bad_values_are_refused_when_parsed(args):
    with pytest.raises(flags.Error):
        parse(Config, *args)


def test_a_list_with_a_bad_item_names_the_flag_and_the_type():
    flag_values, _ = parse(Config, "--size=8,x")
    with pytest.raises(ValueError, match=r"Expected --size as comma-separated int values. "
                                         r"Received: --size=8,x"):
        config_flags.from_flags(Config, flag_values)


def test_help_from_the_metadata_else_the_docstring():
    helps = {leaf.name: leaf.help for leaf in config_flags.leaves(Config)}
    assert helps["epochs"] == "Number of epochs."
    assert helps["r_max_offset"] == "the largest offset, described in the docstring over two lines."
    assert helps["r_scale"] == "low,high."


def test_flags_belong_to_the_callers_module():
    flag_values, names = parse(Config)
    key_flags = {flag.name for flag in flag_values.get_key_flags_for_module(__name__)}
    assert key_flags == set(names)


def test_to_flat_and_from_flat_round_trip():
    config = Config(steps=(1, 2), ranges=Ranges(max_offset=0.3), counted=Counted(1))
    flat = config_flags.to_flat(config)
    assert list(flat) == NAMES
    assert (flat["r_max_offset"], flat["o_max_offset"], flat["level"]) == (0.3, 0.1, 1)
    assert config_flags.from_flat(Config, flat) == config


def test_from_flat_keeps_the_defaults_of_what_is_not_given():
    config = config_flags.from_flat(Config, {"r_scale": [1, 2], "steps": [3]})
    # The nested default instance is kept (o_: the factory's 0.1) and lists become tuples.
    assert config == Config(ranges=Ranges(scale=(1, 2)), steps=(3,))
    assert config_flags.from_flat(Config, {"o_scale": (1, 2)}).other == Ranges(0.1, (1, 2))


def test_from_flat_refuses_unknown_names():
    with pytest.raises(ValueError, match=r"Unknown Config fields.*Received: \['bogus', 'hidden'\]"):
        config_flags.from_flat(Config, {"bogus": 1, "hidden": 2, "epochs": 3})


@dataclasses.dataclass
class Required:
    model: str
    alphas: Tuple[float, ...] = (0.1,)
    pairs_csv: str | None = None


def test_a_field_without_default_is_a_required_flag():
    with pytest.raises(flags.IllegalFlagValueError, match="model"):
        parse(Required)
    flag_values, _ = parse(Required, "--model=m.keras", "--alphas=0.05,0.1")
    assert config_flags.from_flags(Required, flag_values) == Required("m.keras", (0.05, 0.1))


@dataclasses.dataclass
class Twice:
    a: Ranges = dataclasses.field(default_factory=Ranges)
    b: Ranges = dataclasses.field(default_factory=Ranges)


@dataclasses.dataclass
class BareTuple:
    values: tuple = ()


@dataclasses.dataclass
class OptionalBool:
    flag: Optional[bool] = None


@dataclasses.dataclass
class NumberChoices:
    verbose: int = setting(1, "Verbosity.", choices=(0, 1, 2))


def test_definitions_that_cannot_be_flags_are_refused():
    with pytest.raises(ValueError, match=r"several fields give the flags \['max_offset', 'scale'\]"):
        config_flags.leaves(Twice)
    with pytest.raises(TypeError, match="BareTuple.values: no flag type"):
        config_flags.leaves(BareTuple)
    with pytest.raises(TypeError, match="OptionalBool.flag: no flag type"):
        config_flags.leaves(OptionalBool)
    with pytest.raises(TypeError, match="choices are for a str field"):
        config_flags.leaves(NumberChoices)


# The modules the programs read their flags from, before TensorFlow starts.
@pytest.mark.parametrize("module", [
    "keras_geomatch.config_flags",
    "keras_geomatch.training.train_config",
    "keras_geomatch.data.pair_config",
    "keras_geomatch.geometry.ranges",
])
def test_config_modules_import_no_tensorflow(module):
    code = (f"import sys, {module}; "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "KERAS_GEOMATCH_DEFER_IMPORT": "1", "PYTHONPATH": REPO},
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip() == "[]"
