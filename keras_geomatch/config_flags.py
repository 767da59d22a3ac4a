"""absl flags derived from config dataclasses: the settings are written once.

A program's settings are a (possibly nested) dataclass; `define_flags` gives
it one flag per leaf field and `from_flags` builds it back from the parsed
flags. The flags' names are also the config's flat names (`to_flat`,
`from_flat`), e.g. for a config.json that lists every setting at one level.

Field → flag:

* name: the field's name; a nested dataclass field is flattened, its fields
  named `<flag_prefix><field>` with `metadata["flag_prefix"]` (default '').
  `metadata["flag_name"]` renames a leaf's flag; `metadata["flag_name"] =
  None` gives the field no flag (it keeps its default).
* default: the field's. A nested field's default instance gives its leaves'
  defaults; with `default_factory=` its own class, the leaves' defaults are
  that class's (defining the flags builds no config, so runs no
  `__post_init__`). A field without default gives a required flag.
* help: `metadata["help"]`, else the field's entry in the class docstring's
  "Attributes" section.
* type, from the annotation: `bool` (`--name` / `--noname`), `int`,
  `float`, `str`; a `str` with `metadata["choices"]` or a `Literal[...]`
  annotation is an enum; `Tuple[T, ...]` or `Tuple[T, T]` (T: int, float,
  str) is a comma-separated list; `Optional[int]` or `Optional[float]` also
  takes 'none' or '' for None (an `Optional[str]` keeps '' as a value: it
  is None only when the flag is not given).

Only the standard library and absl are imported here: a program can define
its flags (and answer `--help`) before TensorFlow is imported.

Example:
    >>> @dataclasses.dataclass(frozen=True)
    ... class Config:
    ...     epochs: int = setting(20, "Number of epochs.")
    ...     scales: Tuple[float, float] = setting((0.75, 1.25), "low,high.")
    >>> flag_values = flags.FlagValues()
    >>> define_flags(Config, flag_values)
    ['epochs', 'scales']
    >>> flag_values(["prog", "--scales=0.5,2"])
    ['prog']
    >>> from_flags(Config, flag_values)
    Config(epochs=20, scales=(0.5, 2.0))
"""

import dataclasses
import inspect
import re
import sys
import types
import typing
from typing import Tuple

from absl import flags

_MISSING = dataclasses.MISSING
_SCALARS = (bool, int, float, str)
_LIST_ITEMS = (int, float, str)


def setting(default, help_text, **metadata):
    """`dataclasses.field(default=default)` with its flag's help (and e.g.
    `choices=(...)`) in the metadata."""
    return dataclasses.field(default=default, metadata={"help": help_text, **metadata})


@dataclasses.dataclass(frozen=True)
class Leaf:
    """One flag: a leaf field of a config dataclass.

    `path` is the attribute path from the outer config; `kind` is 'bool',
    'int', 'float', 'str', 'enum' or 'list' (of `item_type`); `default` is
    `dataclasses.MISSING` for a required flag.
    """

    name: str
    path: Tuple[str, ...]
    kind: str
    default: object
    help: str
    item_type: type = None
    choices: tuple = None
    optional: bool = False


def leaves(cls):
    """The `Leaf` of every flag of the config dataclass `cls`, in field order.

    Raises:
        TypeError: a field whose annotation has no flag type.
        ValueError: two fields that give the same flag name.
    """
    found = _leaves(cls, prefix="", path=(), base=None)
    names = [leaf.name for leaf in found]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"{cls.__name__}: several fields give the flags {repeated}")
    return found


def define_flags(cls, flag_values=flags.FLAGS, module_name=None):
    """Defines one flag per leaf field of `cls` on `flag_values`.

    Args:
        cls: a dataclass type.
        flag_values: the `FlagValues` to define them on (tests pass a fresh one).
        module_name: the module the flags belong to (`--help` lists those of
            the main module); default: the caller's.

    Returns:
        The flag names, in field order.
    """
    if module_name is None:
        module_name = sys._getframe(1).f_globals.get("__name__")
    if module_name == "__main__":
        module_name = sys.argv[0]  # absl's name for the main module: --help lists its flags
    names = []
    for leaf in leaves(cls):
        required = leaf.default is _MISSING
        default = None if required else leaf.default
        common = dict(flag_values=flag_values, module_name=module_name, required=required)
        if leaf.kind == "bool":
            flag = flags.BooleanFlag(leaf.name, default, leaf.help)
            flags.DEFINE_flag(flag, flag_values, module_name=module_name, required=required)
        elif leaf.kind == "enum":
            flags.DEFINE_enum(leaf.name, default, leaf.choices, leaf.help, **common)
        elif leaf.kind == "list":
            if default is not None:
                default = [str(v) for v in default]
            flags.DEFINE(flags.ListParser(), leaf.name, default, leaf.help,
                         serializer=flags.CsvListSerializer(","), **common)
        else:
            parser = {"int": flags.IntegerParser, "float": flags.FloatParser,
                      "str": flags.ArgumentParser}[leaf.kind]()
            if leaf.optional and leaf.kind != "str":
                parser = _NoneOrParser(parser)
            flags.DEFINE(parser, leaf.name, default, leaf.help,
                         serializer=flags.ArgumentSerializer(), **common)
        names.append(leaf.name)
    return names


def from_flags(cls, flag_values=flags.FLAGS):
    """The `cls` instance of the parsed flags (defined by `define_flags`).

    Raises:
        ValueError: a list flag with an item of the wrong type, or what
            `cls` rejects.
    """
    values = {}
    for leaf in leaves(cls):
        value = flag_values[leaf.name].value
        if leaf.kind == "list" and value is not None:
            try:
                value = tuple(leaf.item_type(v) for v in value)
            except ValueError:
                raise ValueError(
                    f"Expected --{leaf.name} as comma-separated {leaf.item_type.__name__} "
                    f"values. Received: --{leaf.name}={','.join(value)}"
                ) from None
        values[leaf.name] = value
    return from_flat(cls, values)


def to_flat(config):
    """`{flag name: value}` of a config instance (every flag, in field order)."""
    flat = {}
    for leaf in leaves(type(config)):
        value = config
        for name in leaf.path:
            value = getattr(value, name)
        flat[leaf.name] = value
    return flat


def from_flat(cls, values):
    """The `cls` instance of `{flag name: value}`; names not given keep
    their defaults and lists become tuples.

    Raises:
        ValueError: a name that is no flag of `cls` (or what `cls` rejects).
    """
    found = leaves(cls)
    known = {leaf.name for leaf in found}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(
            f"Unknown {cls.__name__} fields. Expected a subset of {sorted(known)}. "
            f"Received: {unknown}"
        )
    given = {}
    for leaf in found:
        if leaf.name in values:
            value = values[leaf.name]
            given[leaf.path] = tuple(value) if isinstance(value, list) else value
    return _build(cls, (), given, base=None)


# ------------------------------------------------------------------ helpers
class _NoneOrParser(flags.ArgumentParser):
    """An int or float parser that also reads 'none' (any case) or '' as None."""

    def __init__(self, inner):
        self.inner = inner
        self.syntactic_help = f"{inner.syntactic_help}, or none"

    def parse(self, argument):
        if argument is None or (isinstance(argument, str) and argument.strip().lower() in ("", "none")):
            return None
        return self.inner.parse(argument)

    def flag_type(self):
        return f"{self.inner.flag_type()} or none"


def _field_default(field):
    if field.default is not _MISSING:
        return field.default
    if field.default_factory is not _MISSING:
        return field.default_factory()
    return _MISSING


def _nested_default(field, nested, base):
    """The default instance of a nested field, or None where its leaves'
    defaults are its class's (`default_factory=` the class, or no default)."""
    if base is not None:
        return getattr(base, field.name)
    if field.default is _MISSING and field.default_factory in (_MISSING, nested):
        return None
    return _field_default(field)


def _nested_type(hint):
    return hint if isinstance(hint, type) and dataclasses.is_dataclass(hint) else None


def _leaves(cls, prefix, path, base):
    """`base`: the default instance of `cls` given by the outer field, or None."""
    hints = typing.get_type_hints(cls)
    helps = None
    found = []
    for field in dataclasses.fields(cls):
        if not field.init:
            continue
        nested = _nested_type(hints[field.name])
        if nested is not None:
            found += _leaves(nested, prefix + field.metadata.get("flag_prefix", ""),
                             path + (field.name,), _nested_default(field, nested, base))
            continue
        default = getattr(base, field.name) if base is not None else _field_default(field)
        name = field.metadata.get("flag_name", field.name)
        if name is None:
            continue
        where = f"{cls.__name__}.{field.name}"
        kind, item_type, choices, optional = _flag_type(hints[field.name], field.metadata, where)
        help_text = field.metadata.get("help")
        if help_text is None:
            helps = _docstring_entries(cls) if helps is None else helps
            help_text = helps.get(field.name, field.name)
        found.append(Leaf(prefix + name, path + (field.name,), kind, default, help_text,
                          item_type, choices, optional))
    return found


def _flag_type(hint, metadata, where):
    """`(kind, item_type, choices, optional)` of a leaf's annotation."""
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint):
        rest = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(rest) == 1:
            hint, optional = rest[0], True
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    choices = metadata.get("choices")
    if origin is typing.Literal:
        choices, hint = args, type(args[0])
    if choices is not None:
        if hint is not str or optional or not all(isinstance(c, str) for c in choices):
            raise TypeError(f"{where}: choices are for a str field, strings. Received: {choices!r}")
        return "enum", None, tuple(choices), False
    if origin is tuple and not optional:
        items = {arg for arg in args if arg is not Ellipsis}
        if len(items) == 1 and (item := items.pop()) in _LIST_ITEMS:
            return "list", item, None, False
    if hint in _SCALARS and not (optional and hint is bool):
        return hint.__name__, None, None, optional
    raise TypeError(
        f"{where}: no flag type for the annotation {hint!r}{' (Optional)' if optional else ''}. "
        "Expected bool, int, float, str, Optional[int | float | str], Tuple[T, ...] or "
        "Tuple[T, T] of int, float or str, a Literal of strings, or a dataclass."
    )


_ENTRY = re.compile(r"(\w+)(?: \([^)]*\))?: (.*)")


def _docstring_entries(cls):
    """`{name: text}` of the "name: text" entries under the "Attributes"
    headings of the class docstring (continuation lines indented deeper)."""
    entries, name, entry_indent, in_section = {}, None, None, False
    for line in inspect.cleandoc(cls.__doc__ or "").splitlines():
        text = line.strip()
        indent = len(line) - len(line.lstrip())
        if not text:
            name = None
            continue
        if indent == 0:
            in_section = text.startswith("Attributes") and text.endswith(":")
            name, entry_indent = None, None
            continue
        if not in_section:
            continue
        entry_indent = indent if entry_indent is None else entry_indent
        match = _ENTRY.fullmatch(text) if indent == entry_indent else None
        if match:
            name = match.group(1)
            entries[name] = match.group(2)
        elif name is not None and indent > entry_indent:
            entries[name] += " " + text
    return entries


def _build(cls, path, given, base):
    """An instance of `cls` from `{leaf path: value}`, over `base` when given."""
    hints = typing.get_type_hints(cls)
    changes = {}
    for field in dataclasses.fields(cls):
        if not field.init:
            continue
        sub = path + (field.name,)
        nested = _nested_type(hints[field.name])
        if nested is None:
            if sub in given:
                changes[field.name] = given[sub]
        elif any(key[: len(sub)] == sub for key in given):
            changes[field.name] = _build(nested, sub, given, _nested_default(field, nested, base))
    return dataclasses.replace(base, **changes) if base is not None else cls(**changes)
