"""trainers/train.py's flags: each one reaches the config; bad ones are refused."""

import dataclasses

import pytest
from absl import app
from absl import flags

from keras_geomatch.training import TrainConfig
from tests.trainers.cli import CONFIGS
from tests.trainers.cli import TINY_FLAGS
from tests.trainers.cli import load_train_module
from tests.trainers.cli import run_train


# For flags whose new value needs other flags to make sense.
COMPANIONS = {
    "backbone": ["--backbone=vgg16", "--image_size=176,176"],
    "weights": ["--backbone=vgg16", "--image_size=176,176"],
    "builtin_samples": ["--nobuiltin_samples", "--train_dir=/data/train"],
    "train_dir": ["--nobuiltin_samples", "--train_dir=/data/train"],
    "train_list": ["--nobuiltin_samples", "--train_list=/data/train.txt"],
    "val_dir": ["--nobuiltin_samples", "--train_dir=/data/train", "--val_dir=/data/val"],
    "val_list": ["--nobuiltin_samples", "--train_dir=/data/train", "--val_list=/data/val.txt"],
    "lr_decay_rate": ["--lr_schedule=exponential", "--lr_decay_rate=0.5"],
    "lr_step_epochs": ["--lr_schedule=step", "--lr_step_epochs=5,10"],
    "lr_min_ratio": ["--lr_schedule=cosine", "--lr_min_ratio=0.01"],
    "lr_schedule": ["--lr_schedule=cosine"],
    "export_at_end": ["--noexport_at_end"],
    "feature_cache": ["--notrain_backbone", "--feature_cache=/tmp/pair_cache"],
    # `auto` resolves to float32 or mixed_bfloat16 by the host's hardware;
    # mixed_float16 is the one value it never resolves to.
    "mixed_precision": ["--mixed_precision=mixed_float16"],
}

# Every flag of trainers/train.py before the flags were derived from
# TrainConfig: the flag files and scripts use these names.
FLAG_NAMES = (
    "geometric_model", "backbone", "weights", "image_size", "train_backbone", "preprocessing",
    "builtin_samples", "train_dir", "train_list", "val_dir", "val_list", "resize_size",
    "padding_factor", "crop_factor", "affine_max_rotation", "affine_max_shear_angle",
    "affine_scale_range", "affine_max_translation", "tps_max_offset", "hom_max_offset",
    "feature_cache", "feature_cache_dtype", "augment", "batch_size", "epochs",
    "steps_per_epoch", "validation_steps", "learning_rate", "lr_schedule", "lr_decay_rate",
    "lr_step_epochs", "lr_min_ratio", "loss_grid_size", "seed", "jit_compile", "strategy",
    "mixed_precision", "backup_every_steps", "verbose", "model_name", "workdir", "export_dir",
    "export_at_end",
)

# A new value for every other non-enum, non-bool flag.
NEW_VALUES = {
    "geometric_model": "tps",
    "image_size": "96,96",
    "resize_size": "240,320",
    "padding_factor": "0.25",
    "crop_factor": "0.5",
    "affine_max_rotation": "0.1",
    "affine_max_shear_angle": "0.2",
    "affine_scale_range": "0.9,1.1",
    "affine_max_translation": "0.1",
    "tps_max_offset": "0.2",
    "hom_max_offset": "0.3",
    "batch_size": "8",
    "epochs": "3",
    "steps_per_epoch": "10",
    "validation_steps": "4",
    "learning_rate": "0.01",
    "loss_grid_size": "10",
    "seed": "7",
    "backup_every_steps": "5",
    "verbose": "2",
    "model_name": "other",
    "workdir": "/tmp/other_workdir",
    "export_dir": "/tmp/other_export",
}


@pytest.fixture(scope="module")
def cli():
    return load_train_module()


def parse(cli, args):
    flag_values = flags.FlagValues()
    names = cli.define_flags(flag_values)
    flag_values(["train.py", *args])
    return flag_values, names


def base_args():
    return [f for f in TINY_FLAGS if not f.startswith("--verbose")]


def test_the_flag_names_are_todays_and_the_configs(cli):
    _, names = parse(cli, base_args())
    assert sorted(names) == sorted(FLAG_NAMES)
    assert names == list(TrainConfig().to_dict())  # config.json's keys, in order


def test_optional_numbers_take_none(cli):
    flag_values, _ = parse(cli, base_args() + ["--lr_schedule=exponential", "--lr_decay_rate=0.5"])
    assert cli.config_from_flags(flag_values).lr_decay_rate == 0.5
    flag_values, _ = parse(cli, base_args() + ["--lr_decay_rate=none"])
    assert cli.config_from_flags(flag_values).lr_decay_rate is None


def test_defaults_equal_the_config_defaults(cli):
    flag_values, _ = parse(cli, ["--backbone=small", "--weights=none", "--builtin_samples"])
    config = cli.config_from_flags(flag_values)
    expected = dataclasses.replace(TrainConfig(), backbone="small", weights="none",
                                   builtin_samples=True)
    assert config == expected


def new_value_args(flag_values, name, weights_file):
    flag = flag_values[name]
    if name == "weights":
        return COMPANIONS[name] + [f"--weights={weights_file}"]
    if name in COMPANIONS:
        return COMPANIONS[name]
    if isinstance(flag, flags.EnumFlag) or hasattr(flag.parser, "enum_values"):
        others = [v for v in flag.parser.enum_values if v != flag.value]
        return [f"--{name}={others[0]}"]
    if isinstance(flag, flags.BooleanFlag):
        return [f"--{name}" if not flag.value else f"--no{name}"]
    if name not in NEW_VALUES:
        pytest.fail(f"The flag walk has no new value for --{name}: add one to NEW_VALUES")
    return [f"--{name}={NEW_VALUES[name]}"]


def test_every_flag_changes_the_resolved_config(cli, tmp_path):
    weights_file = tmp_path / "weights.h5"
    weights_file.write_bytes(b"")
    # The folders and lists the COMPANIONS name must exist (checked by validate).
    (tmp_path / "data" / "train").mkdir(parents=True)
    (tmp_path / "data" / "val").mkdir()
    (tmp_path / "data" / "train.txt").write_text("a.jpg\n")
    (tmp_path / "data" / "val.txt").write_text("b.jpg\n")
    base_values, names = parse(cli, base_args())
    base = cli.config_from_flags(base_values).resolved(10, 10)
    for name in names:
        args = [arg.replace("=/data/", f"={tmp_path}/data/")
                for arg in new_value_args(base_values, name, weights_file)]
        flag_values, _ = parse(cli, base_args() + args)
        try:
            config = cli.config_from_flags(flag_values).resolved(10, 10)
        except ValueError as error:
            pytest.fail(f"--{name} with {args}: {error}")
        changed = base.differences(config)
        assert name in changed, f"--{name} ({args}) did not change the config: {changed}"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--weights=imagenet"], "has no ImageNet weights"),
        (["--train_dir=/data"], "exactly one training source"),
        (["--lr_step_epochs=3"], "lr_step_epochs applies"),
        (["--lr_decay_rate=0.5"], "lr_decay_rate applies"),
        (["--strategy=multi_worker", "--jit_compile=true"], "XLA"),
        (["--noexport_at_end", "--export_dir=/tmp/x"], "export_at_end=False"),
        (["--image_size=88"], "image_size"),
        (["--train_backbone", "--feature_cache=/tmp/c"], "train_backbone=False"),
        (["--notrain_backbone", "--feature_cache=/tmp/c", "--strategy=mirrored"],
         "strategy='default'"),
        (["--weights=torchvision"], "no shipped torchvision"),
        (["--image_size=88,a"], "comma-separated int"),
        (["--affine_scale_range=0.5,x"], "comma-separated float"),
        (["--hom_max_offset=0.6"], r"hom_max_offset in \[0.0, 0.5\)"),
    ],
)
def test_contradictory_flags_are_refused(cli, args, message):
    flag_values, _ = parse(cli, base_args() + args)
    with pytest.raises(ValueError, match=message):
        cli.config_from_flags(flag_values)


def test_unknown_flag_is_refused(cli):
    with pytest.raises(flags.UnrecognizedFlagError, match="bogus"):
        parse(cli, base_args() + ["--bogus=1"])


def test_bad_enum_value_is_refused(cli):
    with pytest.raises(flags.IllegalFlagValueError):
        parse(cli, base_args() + ["--strategy=tpu"])


def test_stray_positional_arguments_are_refused(cli):
    with pytest.raises(app.UsageError, match="extra"):
        cli.main(["train.py", "extra"])


def test_every_flagfile_parses_to_a_valid_config(cli, tmp_path):
    import glob
    import os

    paths = sorted(glob.glob(os.path.join(CONFIGS, "*.flags")))
    assert {os.path.basename(p) for p in paths} >= {
        "quickstart.flags", "small_from_scratch.flags", "affine_vgg16.flags", "tps_vgg16.flags", "hom_vgg16.flags",
        "affine_resnet101.flags", "tps_resnet101.flags"}
    for path in paths:
        extra = []
        with open(path) as f:
            lines = [line.strip() for line in f if not line.startswith("#")]
        if not any(line.startswith(("--builtin_samples", "--train_list")) for line in lines):
            extra = [f"--train_dir={tmp_path}", f"--val_dir={tmp_path}"]
        flag_values, _ = parse(cli, [f"--flagfile={path}", *extra])
        config = cli.config_from_flags(flag_values)
        assert config.model_name, path


def test_paper_flagfiles_follow_the_paper(cli, tmp_path):
    for name, model, backbone in [
        ("affine_vgg16", "affine", "vgg16"), ("tps_vgg16", "tps", "vgg16"),
        ("hom_vgg16", "hom", "vgg16"), ("affine_resnet101", "affine", "resnet101"),
        ("tps_resnet101", "tps", "resnet101"),
    ]:
        flag_values, _ = parse(cli, [f"--flagfile={CONFIGS}/{name}.flags",
                                     f"--train_dir={tmp_path}", f"--val_dir={tmp_path}"])
        config = cli.config_from_flags(flag_values)
        assert (config.geometric_model, config.backbone) == (model, backbone)
        assert config.image_size == (240, 240) and config.batch_size == 16
        assert config.learning_rate == 1e-3 and config.epochs == 20
        assert config.lr_schedule == "constant"
        assert config.weights == "imagenet" and not config.train_backbone
        assert config.model_name == name


def test_the_flags_are_train_pys_own_so_help_lists_them(cli):
    # `--help` lists the flags of the main module: they must be registered
    # as train.py's, not as keras_geomatch.config_flags'.
    flag_values, names = parse(cli, base_args())
    key_flags = {flag.name for flag in flag_values.get_key_flags_for_module(cli.__name__)}
    assert set(names) <= key_flags
    help_text = flag_values.module_help(cli.__name__)
    assert "--affine_max_rotation: Affine θgt: max rotation α, radians." in help_text


def test_the_command_line_reports_errors_without_a_traceback():
    result = run_train(*base_args(), "--weights=imagenet", timeout=120)
    assert result.returncode != 0
    assert "train.py: error: Contradictory flags: backbone='small'" in result.stderr
    assert "Traceback" not in result.stderr
    result = run_train(*base_args(), "--bogus=1", timeout=120)
    assert result.returncode != 0
    assert "Unknown command line flag 'bogus'" in result.stderr


def test_an_unknown_geometric_model_is_refused_while_parsing(cli):
    # The names come without TensorFlow (geometry.geometric_model), so the
    # program refuses it before TensorFlow starts.
    with pytest.raises(flags.IllegalFlagValueError, match="affine|hom|hom_matrix|tps"):
        parse(cli, base_args() + ["--geometric_model=perspective"])


def test_missing_folders_and_lists_are_refused_before_training(cli, tmp_path):
    for args, message in [
        (["--train_dir=/no/such/folder"], "train_dir to be a folder of images.*no such folder"),
        ([f"--train_dir={tmp_path}", "--val_list=/no/such.txt"], "val_list.*no such file"),
    ]:
        flag_values, _ = parse(cli, base_args() + ["--nobuiltin_samples", *args])
        with pytest.raises(FileNotFoundError, match=message):
            cli.config_from_flags(flag_values, model_checks=False)
