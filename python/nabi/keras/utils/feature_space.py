"""keras.utils.FeatureSpace (Keras 3): one-step preprocessing of a dict of structured-data
features. Each feature names a preprocessing layer (Normalization, Discretization, a lookup,
Hashing, ...) and an output mode; `adapt(dataset)` fits the layers; calling the space on a
dict of (batches of) values gives the encoded features, concatenated in the order of the
sorted feature names (output_mode="concat") or as a dict (output_mode="dict").
`get_inputs()` / `get_encoded_features()` give the same pipeline as keras.Input tensors and
their symbolic encoding, so a model can be built on them.

Feature crosses (`crosses=[FeatureSpace.cross(("a", "b"), crossing_dim=16)]`, or tuples of
names with `crossing_dim`) hash the *preprocessed* values of the named features (lookup
indices, bins, ...) with a HashedCrossing layer named "a_X_b", as Keras 3 does; they come
after the features, in sorted order of their names. `get_config()` / `from_config()` rebuild
the space (an adapted lookup or Discretization keeps its state through its config).

Not supported yet: saving a FeatureSpace on its own (`FeatureSpace.save`)."""
import numpy as np


class Feature:
    """A feature's input dtype, its preprocessing layer and its output mode ("int",
    "one_hot" or "float")."""

    def __init__(self, dtype, preprocessor, output_mode):
        if output_mode not in {"int", "one_hot", "float"}:
            raise ValueError(f"[FeatureSpace] invalid output_mode {output_mode!r} for a "
                             "feature; expected 'int', 'one_hot' or 'float'")
        self.dtype = dtype
        self.preprocessor = preprocessor
        self.output_mode = output_mode

    def get_config(self):
        from .. import layers
        return {"dtype": self.dtype, "preprocessor": layers.serialize(self.preprocessor),
                "output_mode": self.output_mode}

    @classmethod
    def from_config(cls, config):
        from .. import layers
        config = dict(config)
        p = config["preprocessor"]
        if isinstance(p, dict):
            config["preprocessor"] = layers.deserialize(p)
        return cls(**config)


class Cross:
    """A feature cross: the names of the crossed features, the number of hash bins
    (`crossing_dim`) and the output mode ("int" or "one_hot"). Its name is the feature names
    joined by "_X_"."""

    def __init__(self, feature_names, crossing_dim, output_mode="one_hot"):
        if output_mode not in {"int", "one_hot"}:
            raise ValueError("[FeatureSpace.cross] invalid output_mode: expected 'int' or "
                             f"'one_hot'. Received: output_mode={output_mode!r}")
        if isinstance(feature_names, str) or len(tuple(feature_names)) < 2:
            raise ValueError("[FeatureSpace.cross] a cross needs at least two feature names. "
                             f"Received: feature_names={feature_names!r}")
        self.feature_names = tuple(feature_names)
        self.crossing_dim = crossing_dim
        self.output_mode = output_mode

    @property
    def name(self):
        return "_X_".join(self.feature_names)

    def get_config(self):
        return {"feature_names": list(self.feature_names), "crossing_dim": self.crossing_dim,
                "output_mode": self.output_mode}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class FeatureSpace:
    """Keras 3's FeatureSpace (see the module docstring)."""

    # ---------------------------------------------------------------- feature constructors
    @classmethod
    def cross(cls, feature_names, crossing_dim, output_mode="one_hot"):
        return Cross(feature_names, crossing_dim, output_mode=output_mode)

    @classmethod
    def feature(cls, dtype, preprocessor, output_mode):
        return Feature(dtype, preprocessor, output_mode)

    @classmethod
    def float(cls, name=None):
        from .. import layers
        name = name or "float"
        return Feature("float32", layers.Identity(name=f"{name}_preprocessor"), "float")

    @classmethod
    def float_rescaled(cls, scale=1.0, offset=0.0, name=None):
        from .. import layers
        name = name or "float_rescaled"
        return Feature("float32", layers.Rescaling(scale=scale, offset=offset,
                                                   name=f"{name}_preprocessor"), "float")

    @classmethod
    def float_normalized(cls, name=None):
        from .. import layers
        name = name or "float_normalized"
        return Feature("float32", layers.Normalization(axis=-1, name=f"{name}_preprocessor"),
                       "float")

    @classmethod
    def float_discretized(cls, num_bins, bin_boundaries=None, output_mode="one_hot",
                          name=None):
        from .. import layers
        name = name or "float_discretized"
        pre = layers.Discretization(num_bins=num_bins, bin_boundaries=bin_boundaries,
                                    name=f"{name}_preprocessor")
        return Feature("float32", pre, output_mode)

    @classmethod
    def integer_categorical(cls, max_tokens=None, num_oov_indices=1, output_mode="one_hot",
                            name=None):
        from .. import layers
        name = name or "integer_categorical"
        pre = layers.IntegerLookup(max_tokens=max_tokens, num_oov_indices=num_oov_indices,
                                   name=f"{name}_preprocessor")
        return Feature("int32", pre, output_mode)

    @classmethod
    def string_categorical(cls, max_tokens=None, num_oov_indices=1, output_mode="one_hot",
                           name=None):
        from .. import layers
        name = name or "string_categorical"
        pre = layers.StringLookup(max_tokens=max_tokens, num_oov_indices=num_oov_indices,
                                  name=f"{name}_preprocessor")
        return Feature("string", pre, output_mode)

    @classmethod
    def string_hashed(cls, num_bins, output_mode="one_hot", name=None):
        from .. import layers
        name = name or "string_hashed"
        return Feature("string", layers.Hashing(num_bins=num_bins,
                                                name=f"{name}_preprocessor"), output_mode)

    @classmethod
    def integer_hashed(cls, num_bins, output_mode="one_hot", name=None):
        from .. import layers
        name = name or "integer_hashed"
        return Feature("int32", layers.Hashing(num_bins=num_bins,
                                               name=f"{name}_preprocessor"), output_mode)

    # ---------------------------------------------------------------- the space
    def __init__(self, features, output_mode="concat", crosses=None, crossing_dim=32,
                 hashing_dim=32, num_discretization_bins=32, name=None):
        if not features or not isinstance(features, dict):
            raise ValueError("[FeatureSpace] `features` must be a non-empty dict of feature "
                             f"name -> feature (a string or a FeatureSpace.* feature), got "
                             f"{features!r}")
        if output_mode not in {"concat", "dict"}:
            raise ValueError(f"[FeatureSpace] invalid output_mode {output_mode!r}; expected "
                             "'concat' or 'dict'")
        self.name = name or "feature_space"
        self.crossing_dim = crossing_dim
        self.hashing_dim = hashing_dim
        self.num_discretization_bins = num_discretization_bins
        self.output_mode = output_mode
        self.crosses = [self._standardize_cross(c, features) for c in (crosses or [])]
        self.crosses_by_name = {c.name: c for c in self.crosses}
        self.features = {n: self._standardize_feature(n, f) for n, f in features.items()}
        self.preprocessors = {n: f.preprocessor for n, f in self.features.items()}
        self.crossers = {c.name: self._cross_to_crosser(c) for c in self.crosses}
        self.inputs = {n: self._feature_input(n, f) for n, f in self.features.items()}
        self.one_hot_encoders = {}
        self.encoded_features = None
        self._is_adapted = not self._adaptable()

    def _standardize_cross(self, cross, features):
        if isinstance(cross, dict):
            cross = Cross.from_config(cross.get("config", cross))
        if not isinstance(cross, Cross):
            if not self.crossing_dim:
                raise ValueError("[FeatureSpace] When specifying `crosses`, the argument "
                                 "`crossing_dim` (dimensionality of the crossing space) should "
                                 f"be specified as well. Received: crossing_dim="
                                 f"{self.crossing_dim!r}")
            cross = Cross(cross, crossing_dim=self.crossing_dim)
        unknown = [n for n in cross.feature_names if n not in features]
        if unknown:
            raise ValueError("[FeatureSpace] All features referenced in the `crosses` argument "
                             f"should be present in the `features` dict. Received unknown "
                             f"features {unknown} in the cross {cross.feature_names}")
        if cross.name in features:
            raise ValueError(f"[FeatureSpace] the cross {cross.feature_names} is named "
                             f"{cross.name!r}, which is also the name of a feature")
        return cross

    @staticmethod
    def _cross_to_crosser(cross):
        from .. import layers
        return layers.HashedCrossing(cross.crossing_dim, name=cross.name)

    def _standardize_feature(self, name, feature):
        if isinstance(feature, dict):       # a Feature's config (from get_config)
            feature = Feature.from_config(feature.get("config", feature))
        if isinstance(feature, Feature):
            return feature
        makers = {
            "float": lambda: self.float(name=name),
            "float_rescaled": lambda: self.float_rescaled(name=name),
            "float_normalized": lambda: self.float_normalized(name=name),
            "float_discretized": lambda: self.float_discretized(
                num_bins=self.num_discretization_bins, name=name),
            "integer_categorical": lambda: self.integer_categorical(name=name),
            "string_categorical": lambda: self.string_categorical(name=name),
            "integer_hashed": lambda: self.integer_hashed(self.hashing_dim, name=name),
            "string_hashed": lambda: self.string_hashed(self.hashing_dim, name=name),
        }
        if isinstance(feature, str) and feature in makers:
            return makers[feature]()
        raise ValueError(f"[FeatureSpace] invalid feature {feature!r} for {name!r}; expected "
                         f"one of {sorted(makers)} or a FeatureSpace.* feature")

    @staticmethod
    def _feature_input(name, feature):
        from .. import Input
        return Input(shape=(1,), dtype=feature.dtype, name=name)

    def _adaptable(self):
        out = []
        for n, f in self.features.items():
            p = f.preprocessor
            if not hasattr(p, "adapt"):
                continue
            # layers given their state up front need no adapt
            if type(p).__name__ == "Discretization" and \
                    getattr(p, "bin_boundaries", None) is not None and \
                    len(p.bin_boundaries or []) > 0:
                continue
            if type(p).__name__ in ("Hashing", "Identity", "Rescaling"):
                continue
            out.append(n)
        return out

    def _check_if_adapted(self):
        if not self._is_adapted:
            raise ValueError("[FeatureSpace] You need to call `.adapt(dataset)` on the "
                             "FeatureSpace before you can start using it.")

    def adapt(self, dataset):
        from ... import data as _data
        from .. import ops
        if not isinstance(dataset, _data.Dataset):
            raise ValueError("[FeatureSpace.adapt] expects a tf.data.Dataset of feature "
                             f"dicts, got {type(dataset).__name__}")
        for name in self._adaptable():
            fds = dataset.map(lambda x, name=name: x[name])
            first = next(iter(fds.take(1)))
            rank = len(first.shape)
            if rank == 0:
                fds = fds.batch(32)
            if rank in (0, 1):
                fds = fds.map(lambda x: ops.expand_dims(x, -1))
            self.preprocessors[name].adapt(fds)
        self._is_adapted = True
        self.encoded_features = None
        self.one_hot_encoders = {}
        self.get_encoded_features()

    def _width(self, name):
        p = self.preprocessors[name] if name in self.preprocessors else self.crossers[name]
        if hasattr(p, "vocabulary_size"):
            return int(p.vocabulary_size())
        nb = getattr(p, "num_bins", None)
        if nb:
            return int(nb)
        bb = getattr(p, "bin_boundaries", None)
        if bb is not None:
            return len(bb) + 1
        raise ValueError(f"[FeatureSpace] cannot one-hot encode feature {name!r}: its "
                         f"preprocessor {type(p).__name__} has no vocabulary or bin count")

    def _encoder(self, name):
        from .. import layers
        if name not in self.one_hot_encoders:
            self.one_hot_encoders[name] = layers.CategoryEncoding(
                num_tokens=self._width(name), output_mode="one_hot", name=f"{name}_encoder")
        return self.one_hot_encoders[name]

    def _finish(self, name, output_mode, x):
        from .. import ops
        if output_mode == "one_hot":
            return self._encoder(name)(x)
        if output_mode == "float":
            return ops.cast(x, "float32")
        return x

    def _encode_all(self, values):
        """The encoded features and crosses: crosses hash the preprocessed features (before
        their one-hot encoding), as Keras 3 does."""
        pre = {n: self.features[n].preprocessor(v) for n, v in values.items()}
        enc = {n: self._finish(n, self.features[n].output_mode, x) for n, x in pre.items()}
        for c in self.crosses:
            x = self.crossers[c.name]([pre[n] for n in c.feature_names])
            enc[c.name] = self._finish(c.name, c.output_mode, x)
        return enc

    def _merge(self, encoded, symbolic):
        # features first, then crosses, each group in sorted order of the names (Keras 3)
        names = sorted(n for n in encoded if n not in self.crosses_by_name) + \
            sorted(n for n in encoded if n in self.crosses_by_name)
        if self.output_mode == "dict":
            return {n: encoded[n] for n in names}
        from .. import layers, ops
        parts = [encoded[n] for n in names]
        if len(parts) == 1:
            return parts[0] if symbolic else ops.cast(parts[0], "float32")
        if symbolic:
            return layers.Concatenate(axis=-1, name=f"{self.name}_concatenate")(parts)
        return ops.concatenate([ops.cast(p, "float32") for p in parts], axis=-1)

    def get_inputs(self):
        self._check_if_adapted()
        return self.inputs

    def get_encoded_features(self):
        self._check_if_adapted()
        if self.encoded_features is None:
            enc = self._encode_all(self.inputs)
            self.encoded_features = self._merge(enc, symbolic=True)
        return self.encoded_features

    def __call__(self, data):
        from .. import ops
        self._check_if_adapted()
        if not isinstance(data, dict):
            raise ValueError("[FeatureSpace] expects a dict of feature name -> values, got "
                             f"{type(data).__name__}")
        missing = [n for n in self.features if n not in data]
        if missing:
            raise ValueError(f"[FeatureSpace] the input dict lacks the features {missing} "
                             f"(it has {sorted(data)})")
        vals = {}
        for n in self.features:
            v = data[n]
            if isinstance(v, (str, bytes)) or (isinstance(v, np.ndarray) and
                                               v.dtype.kind in "US"):
                from ... import constant
                v = constant(v)
            else:
                v = ops.convert_to_tensor(v)
            vals[n] = v
        ranks = {len(v.shape) for v in vals.values()}
        if len(ranks) != 1 or max(ranks) > 2:
            raise ValueError("[FeatureSpace] all features must be scalars, (batch,) or "
                             f"(batch, 1) values of one rank; got shapes "
                             f"{ {n: tuple(v.shape) for n, v in vals.items()} }")
        rank = ranks.pop()
        if rank == 0:
            vals = {n: ops.reshape(v, (1, 1)) for n, v in vals.items()}
        elif rank == 1:
            vals = {n: ops.expand_dims(v, -1) for n, v in vals.items()}
        out = self._merge(self._encode_all(vals), symbolic=False)
        if rank == 0:
            if isinstance(out, dict):
                return {n: ops.squeeze(v, axis=0) for n, v in out.items()}
            return ops.squeeze(out, axis=0)
        return out

    def get_config(self):
        return {"features": {n: f.get_config() for n, f in self.features.items()},
                "output_mode": self.output_mode,
                "crosses": [c.get_config() for c in self.crosses],
                "crossing_dim": self.crossing_dim, "hashing_dim": self.hashing_dim,
                "num_discretization_bins": self.num_discretization_bins, "name": self.name}

    @classmethod
    def from_config(cls, config):
        """The space of `get_config()`. Adapted lookups and Discretizations carry their
        state in their configs, so a space made only of such features (and of features that
        need no adapt) is ready to use; otherwise call `adapt` again."""
        space = cls(**config)
        space._is_adapted = all(_restored_state(space.preprocessors[n])
                                for n in space._adaptable())
        return space


def _restored_state(p):
    kind = type(p).__name__
    if kind in ("StringLookup", "IntegerLookup"):
        return getattr(p, "_tokens", None) is not None
    if kind == "Discretization":
        return bool(getattr(p, "bin_boundaries", None))
    if kind == "Normalization":
        return getattr(p, "input_mean", None) is not None
    return False
