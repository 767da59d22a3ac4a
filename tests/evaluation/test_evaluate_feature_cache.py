import pytest

from keras_geomatch.evaluation import FeatureCache


class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, keys):
        self.calls.append(list(keys))
        return [f"value of {k}" for k in keys]


def test_each_key_is_computed_once_in_batches_and_dropped_after_its_last_use():
    compute = Recorder()
    cache = FeatureCache(compute, {"a": 3, "b": 1, "c": 2})
    assert cache.take(["a", "b", "a"]) == ["value of a", "value of b", "value of a"]
    assert compute.calls == [["a", "b"]]  # one batch, distinct keys
    assert len(cache) == 1  # b used up; a has one use left
    assert cache.take(["c", "a"]) == ["value of c", "value of a"]
    assert compute.calls == [["a", "b"], ["c"]]
    assert cache.take(["c"]) == ["value of c"]
    assert len(cache) == 0 and cache.num_computed == 3


def test_disabled_cache_computes_every_request():
    compute = Recorder()
    cache = FeatureCache(compute, {"a": 2, "b": 1}, enabled=False)
    cache.take(["a", "b"])
    cache.take(["a"])
    assert compute.calls == [["a", "b"], ["a"]]
    assert cache.num_computed == 3 and len(cache) == 0


def test_more_uses_than_announced_is_a_key_error():
    cache = FeatureCache(Recorder(), {"a": 1})
    cache.take(["a"])
    with pytest.raises(KeyError, match="more time"):
        cache.take(["a"])
    with pytest.raises(KeyError):
        FeatureCache(Recorder(), {}).take(["z"])
