"""Per-image values computed once and dropped after their last use.

The evaluation needs, for every image, its backbone features; an image
appears in many pairs (PF-WILLOW: 100 images, 900 pairs), so its features
are computed the first time a pair asks for them and kept until the last
pair that needs them has taken them. Knowing the number of uses in advance
bounds the memory to the images still to be used (with pairs grouped by
category, a handful), not the whole dataset.
"""

import collections


class FeatureCache:
    """Computes values for keys in batches, each key once, and evicts after the last use.

    Args:
        compute: callable taking a list of distinct keys and returning a
            list of values, one per key (it is where batching happens).
        uses: mapping `key -> number of times take() will ask for it`
            (counting repeats within one call).
        enabled: False computes every requested key on every request (no
            reuse), for checking that caching changes nothing.

    Example:
        >>> cache = FeatureCache(lambda keys: [k.upper() for k in keys], {"a": 2, "b": 1})
        >>> cache.take(["a", "b"]), cache.take(["a"])
        (['A', 'B'], ['A'])
        >>> cache.num_computed, len(cache)
        (2, 0)
    """

    def __init__(self, compute, uses, enabled=True):
        self._compute = compute
        self._remaining = collections.Counter(dict(uses))
        self._values = {}
        self._enabled = bool(enabled)
        self.num_computed = 0

    def __len__(self):
        """Number of values currently held."""
        return len(self._values)

    def take(self, keys):
        """Returns the values of `keys` (in order), computing the missing ones in one call.

        Raises:
            KeyError: a key asked for more often than `uses` announced.
        """
        keys = list(keys)
        for key, count in collections.Counter(keys).items():
            if self._remaining[key] < count:
                raise KeyError(
                    f"{key!r} asked for {count} more time(s) than its announced uses "
                    f"(remaining: {self._remaining[key]})"
                )
        if not self._enabled:
            self.num_computed += len(keys)
            values = self._compute(keys)
            for key in keys:
                self._remaining[key] -= 1
            return list(values)
        missing = list(dict.fromkeys(k for k in keys if k not in self._values))
        if missing:
            computed = self._compute(missing)
            if len(computed) != len(missing):
                raise ValueError(f"compute returned {len(computed)} values for {len(missing)} keys")
            self._values.update(zip(missing, computed))
            self.num_computed += len(missing)
        values = [self._values[key] for key in keys]
        for key in keys:
            self._remaining[key] -= 1
            if self._remaining[key] == 0:
                del self._values[key]
        return values
