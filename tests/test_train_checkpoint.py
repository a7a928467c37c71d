"""nabi.train: TF2 object-based checkpoints (Checkpoint, CheckpointManager, latest_checkpoint,
list_variables, load_variable). Expectations are written here independently: the arrays taken
with .numpy() before saving, Adam's slots after N steps of a constant gradient in closed form,
TF's file names and state-file text, and the exact continuation of training after a restore
into fresh objects (built, or built only after the restore)."""
import os
import subprocess
import sys

import numpy as np
import pytest

import nabi
from nabi import keras
from nabi.keras import layers

VALUE = "/.ATTRIBUTES/VARIABLE_VALUE"


def _seed(s=0):
    keras.utils.set_random_seed(s)


def _mlp(built=True, units=4):
    first = dict(input_shape=(3,)) if built else {}
    return keras.Sequential([layers.Dense(units, activation="tanh", **first),
                             layers.BatchNormalization(),
                             layers.Dense(2)])


def _data(seed=0, n=8):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, 3)).astype(np.float32),
            rng.standard_normal((n, 2)).astype(np.float32))


def _step(model, opt, x, y):
    with nabi.GradientTape() as tape:
        loss = nabi.reduce_mean(nabi.square(model(x, training=True) - y))
    grads = tape.gradient(loss, model.trainable_variables)
    opt.apply_gradients(zip(grads, model.trainable_variables))


def _weights(model):
    return [w.numpy() for w in model.weights]


def _on_device(where, var):
    is_gpu = type(var._data).__name__ == "DeviceArray"
    return is_gpu == (where != "/CPU:0")


# ----------------------------------------------------------------------------- files, keys
def test_save_writes_tf_file_names_and_state_file(tmp_path):
    v = nabi.Variable(np.arange(6, dtype=np.float32).reshape(2, 3))
    ckpt = nabi.train.Checkpoint(v=v)
    prefix = os.path.join(str(tmp_path), "ckpt")
    assert ckpt.save(prefix) == prefix + "-1"
    v.assign(np.ones((2, 3), np.float32))
    assert ckpt.save(file_prefix=prefix) == prefix + "-2"
    assert int(ckpt.save_counter.numpy()) == 2
    assert sorted(os.listdir(tmp_path)) == ["checkpoint", "ckpt-1.data-00000-of-00001",
                                            "ckpt-1.index", "ckpt-2.data-00000-of-00001",
                                            "ckpt-2.index"]
    with open(tmp_path / "checkpoint") as fh:
        assert fh.read() == ('model_checkpoint_path: "ckpt-2"\n'
                             'all_model_checkpoint_paths: "ckpt-2"\n')
    assert nabi.train.latest_checkpoint(str(tmp_path)) == prefix + "-2"
    st = nabi.train.get_checkpoint_state(str(tmp_path))
    assert st.model_checkpoint_path == prefix + "-2"
    assert st.all_model_checkpoint_paths == [prefix + "-2"]
    np.testing.assert_array_equal(nabi.train.load_variable(prefix + "-1", "v" + VALUE),
                                  np.arange(6, dtype=np.float32).reshape(2, 3))
    np.testing.assert_array_equal(nabi.train.load_variable(str(tmp_path), "v"), np.ones((2, 3)))
    assert nabi.train.list_variables(str(tmp_path)) == [("save_counter" + VALUE, []),
                                                        ("v" + VALUE, [2, 3])]
    # restore goes back to the first save, counter included
    nabi.train.Checkpoint(v=v).restore(prefix + "-1").assert_consumed()
    np.testing.assert_array_equal(v.numpy(), np.arange(6).reshape(2, 3))


def test_write_has_no_counter_and_no_state_file(tmp_path):
    v = nabi.Variable([1.0, 2.0])
    ckpt = nabi.train.Checkpoint(v=v)
    path = ckpt.write(str(tmp_path / "w"))
    assert path == str(tmp_path / "w")
    assert sorted(os.listdir(tmp_path)) == ["w.data-00000-of-00001", "w.index"]
    assert nabi.train.latest_checkpoint(str(tmp_path)) is None
    assert nabi.train.list_variables(path) == [("v" + VALUE, [2])]
    v.assign([5.0, 6.0])
    ckpt.read(path).assert_consumed()
    np.testing.assert_array_equal(v.numpy(), [1.0, 2.0])


def test_relative_prefix_and_directory_created(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ckpt = nabi.train.Checkpoint(v=nabi.Variable(3.0))
    assert ckpt.save("./training_checkpoints/ckpt") == "./training_checkpoints/ckpt-1"
    assert nabi.train.latest_checkpoint("./training_checkpoints") == \
        os.path.join("./training_checkpoints", "ckpt-1")
    assert nabi.train.latest_checkpoint("./nowhere") is None


def test_keys_are_structural_and_values_are_the_saved_arrays(tmp_path):
    _seed(1)
    model = _mlp()
    x, y = _data()
    opt = keras.optimizers.Adam(0.01)
    _step(model, opt, x, y)
    expected = {
        "model/layer_with_weights-0/kernel": model.layers[0].kernel.numpy(),
        "model/layer_with_weights-0/bias": model.layers[0].bias.numpy(),
        "model/layer_with_weights-1/gamma": model.layers[1].gamma.numpy(),
        "model/layer_with_weights-1/moving_mean": model.layers[1].moving_mean.numpy(),
        "model/layer_with_weights-1/moving_variance": model.layers[1].moving_variance.numpy(),
        "model/layer_with_weights-2/kernel": model.layers[2].kernel.numpy(),
        "opt/iter": np.int64(1),
        "opt/learning_rate": np.float32(0.01),
    }
    path = nabi.train.Checkpoint(model=model, opt=opt).save(str(tmp_path / "ckpt"))
    names = dict(nabi.train.list_variables(path))
    for k, v in expected.items():
        assert names[k + VALUE] == list(np.shape(v))
        np.testing.assert_array_equal(nabi.train.load_variable(path, k + VALUE), v)
    # slots hang off their variable; BatchNormalization's moving statistics have none
    slot = "model/layer_with_weights-2/kernel/.OPTIMIZER_SLOT/opt/momentum" + VALUE
    assert names[slot] == [4, 2]
    assert not any("moving_mean/.OPTIMIZER_SLOT" in k for k in names)
    # no auto-generated layer name appears in any key
    assert not any(l.name in k for k in names for l in model.layers)
    assert sum(".OPTIMIZER_SLOT" in k for k in names) == 2 * len(model.trainable_variables)


def test_adam_slots_match_closed_form(tmp_path):
    # constant gradient c: m_N = c (1 - b1^N), v_N = c^2 (1 - b2^N)
    w = nabi.Variable(np.zeros((2, 3), np.float32))
    c = np.arange(1, 7, dtype=np.float32).reshape(2, 3) / 7
    opt = keras.optimizers.Adam(0.1, beta_1=0.8, beta_2=0.9)
    for _ in range(5):
        opt.apply_gradients([(nabi.constant(c), w)])
    path = nabi.train.Checkpoint(w=w, optimizer=opt).save(str(tmp_path / "ckpt"))
    reader = nabi.train.load_checkpoint(path)
    m = reader.get_tensor("w/.OPTIMIZER_SLOT/optimizer/momentum" + VALUE)
    v = reader.get_tensor("w/.OPTIMIZER_SLOT/optimizer/velocity" + VALUE)
    np.testing.assert_allclose(m, c * (1 - 0.8 ** 5), rtol=1e-5)
    np.testing.assert_allclose(v, c * c * (1 - 0.9 ** 5), rtol=1e-5)
    assert reader.get_tensor("optimizer/iter" + VALUE) == 5
    assert reader.get_variable_to_dtype_map()["optimizer/iter" + VALUE] == nabi.int64


def test_keys_do_not_depend_on_layer_names(tmp_path):
    _seed(2)
    a = _mlp()
    keys_a = [k for k, _ in nabi.train.list_variables(
        nabi.train.Checkpoint(model=a).write(str(tmp_path / "a")))]
    for _ in range(5):
        layers.Dense(1)       # shifts the auto-generated names (dense_N)
    b = _mlp()
    assert [l.name for l in a.layers] != [l.name for l in b.layers]
    keys_b = [k for k, _ in nabi.train.list_variables(
        nabi.train.Checkpoint(model=b).write(str(tmp_path / "b")))]
    assert keys_a == keys_b
    nabi.train.Checkpoint(model=b).restore(str(tmp_path / "a")).assert_consumed()
    for wa, wb in zip(_weights(a), _weights(b)):
        np.testing.assert_array_equal(wa, wb)


def test_restore_in_another_process(tmp_path):
    # a fresh process numbers its layers differently (dense_3 vs dense): the keys must not care
    script = f"""
import numpy as np, nabi
from nabi import keras
for _ in range(3):
    keras.layers.Dense(1)
m = keras.Sequential([keras.layers.Dense(3, input_shape=(2,)), keras.layers.Dense(1)])
m.layers[0].kernel.assign(np.arange(6, dtype=np.float32).reshape(2, 3))
nabi.train.Checkpoint(model=m).save({str(tmp_path / 'ckpt')!r})
"""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=300)
    m = keras.Sequential([layers.Dense(3, input_shape=(2,)), layers.Dense(1)])
    nabi.train.Checkpoint(model=m).restore(
        nabi.train.latest_checkpoint(str(tmp_path))).assert_consumed()
    np.testing.assert_array_equal(m.layers[0].kernel.numpy(),
                                  np.arange(6, dtype=np.float32).reshape(2, 3))


# ----------------------------------------------------------------------------- continuation
_OPTIMIZERS = {
    "adam": lambda: keras.optimizers.Adam(0.01),
    "adam_amsgrad": lambda: keras.optimizers.Adam(0.01, amsgrad=True),
    "sgd_momentum": lambda: keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "rmsprop": lambda: keras.optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    "nadam": lambda: keras.optimizers.Nadam(0.01),
    "adagrad": lambda: keras.optimizers.Adagrad(0.1),
}


@pytest.mark.parametrize("built", [True, False], ids=["built", "deferred"])
@pytest.mark.parametrize("opt_name", sorted(_OPTIMIZERS))
def test_restore_continues_training_exactly(tmp_path, where, opt_name, built):
    x, y = _data(3)
    with nabi.device(where):
        _seed(3)
        model = _mlp()
        opt = _OPTIMIZERS[opt_name]()
        for _ in range(3):
            _step(model, opt, x, y)
        path = nabi.train.Checkpoint(model=model, optimizer=opt).save(str(tmp_path / "ckpt"))
        for _ in range(4):
            _step(model, opt, x, y)
        w1 = _weights(model)

        _seed(99)
        fresh = _mlp(built=built)
        fresh_opt = _OPTIMIZERS[opt_name]()
        status = nabi.train.Checkpoint(model=fresh, optimizer=fresh_opt).restore(path)
        assert int(fresh_opt.iterations.numpy()) == 3
        if built:
            status.assert_consumed()
        else:
            with pytest.raises(AssertionError, match="not created yet"):
                status.assert_consumed()
            status.assert_existing_objects_matched()
        for _ in range(4):
            _step(fresh, fresh_opt, x, y)
        status.assert_consumed()
        w2 = _weights(fresh)
        assert all(_on_device(where, v) for v in fresh.trainable_variables)
        assert all(_on_device(where, s) for s in fresh_opt._slot_vars)
    assert int(fresh_opt.iterations.numpy()) == 7
    assert len(w1) == len(w2)
    for a, b in zip(w1, w2):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)


def test_restore_into_used_optimizer_overwrites_its_state(tmp_path, where):
    x, y = _data(4)
    with nabi.device(where):
        _seed(4)
        model, opt = _mlp(), keras.optimizers.Adam(0.01)
        ckpt = nabi.train.Checkpoint(model=model, optimizer=opt)
        _step(model, opt, x, y)
        path = ckpt.save(str(tmp_path / "ckpt"))
        _step(model, opt, x, y)
        w1 = _weights(model)
        for _ in range(3):
            _step(model, opt, x, y)
        ckpt.restore(path).assert_consumed()
        _step(model, opt, x, y)
    for a, b in zip(w1, _weights(model)):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)


def test_compiled_model_tracks_its_optimizer(tmp_path):
    x, y = _data(5, n=16)
    _seed(5)
    model = _mlp()
    model.compile(keras.optimizers.Adam(0.01), "mse")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    path = nabi.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    keys = dict(nabi.train.list_variables(path))
    assert keys["model/optimizer/iter" + VALUE] == []
    assert nabi.train.load_variable(path, "model/optimizer/iter") == 4
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    _seed(6)
    fresh = _mlp()
    fresh.compile(keras.optimizers.Adam(0.01), "mse")
    nabi.train.Checkpoint(model=fresh).restore(path).assert_consumed()
    fresh.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    for a, b in zip(_weights(model), _weights(fresh)):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- object graph
class _Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.encoder = layers.Dense(3)
        self.blocks = [layers.Dense(3), layers.Dense(2)]
        self.tracker = keras.metrics.Mean(name="loss")

    def call(self, x):
        x = self.encoder(x)
        for b in self.blocks:
            x = b(x)
        return x


class _Scale(layers.Layer):
    def build(self, input_shape):
        self.w = nabi.Variable(np.ones(int(input_shape[-1]), np.float32))   # not add_weight

    def call(self, x):
        return x * self.w


def test_subclassed_model_attributes_lists_metrics_and_plain_variables(tmp_path):
    net = _Net()
    net(np.ones((1, 4), np.float32))
    net.tracker.update_state([2.0, 4.0])
    scale = _Scale()
    scale(np.ones((1, 2), np.float32))
    scale.w.assign([2.0, 3.0])
    ckpt = nabi.train.Checkpoint(net=net, scale=scale)
    ckpt.step = nabi.Variable(7, dtype="int64")
    ckpt.nested = nabi.train.Checkpoint(extra=nabi.Variable([1.5]))
    ckpt.not_tracked = 3
    path = ckpt.save(str(tmp_path / "ckpt"))
    keys = {k for k, _ in nabi.train.list_variables(path)}
    assert {"net/encoder/kernel" + VALUE, "net/blocks/0/kernel" + VALUE,
            "net/blocks/1/bias" + VALUE, "net/tracker/total" + VALUE,
            "net/tracker/count" + VALUE, "scale/w" + VALUE, "step" + VALUE,
            "nested/extra" + VALUE, "save_counter" + VALUE} <= keys

    net2, scale2 = _Net(), _Scale()       # neither built: their values wait
    ckpt2 = nabi.train.Checkpoint(net=net2, scale=scale2)
    ckpt2.step = nabi.Variable(0, dtype="int64")
    ckpt2.nested = nabi.train.Checkpoint(extra=nabi.Variable([0.0]))
    status = ckpt2.restore(path)
    assert int(ckpt2.step.numpy()) == 7 and ckpt2.nested.extra.numpy()[0] == 1.5
    np.testing.assert_array_equal(net2.tracker.result().numpy(), 3.0)
    assert int(ckpt2.save_counter.numpy()) == 1
    net2(np.ones((1, 4), np.float32))
    scale2(np.ones((1, 2), np.float32))
    status.assert_consumed()
    for a, b in zip(_weights(net), _weights(net2)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(scale2.w.numpy(), [2.0, 3.0])
    assert ckpt2.save(str(tmp_path / "ckpt")).endswith("ckpt-2")   # numbering continues


def test_root_checkpoint_keys_have_no_prefix(tmp_path):
    model = _mlp()
    path = nabi.train.Checkpoint(root=model).write(str(tmp_path / "w"))
    keys = [k for k, _ in nabi.train.list_variables(path)]
    assert "layer_with_weights-0/kernel" + VALUE in keys
    fresh = _mlp()
    nabi.train.Checkpoint(fresh).read(path).assert_consumed()
    for a, b in zip(_weights(model), _weights(fresh)):
        np.testing.assert_array_equal(a, b)


def test_non_trackable_argument_is_an_error():
    with pytest.raises(ValueError, match="expecting model to be a trackable"):
        nabi.train.Checkpoint(model=3)


# ----------------------------------------------------------------------------- status
def test_restore_none_is_initialization_only():
    status = nabi.train.Checkpoint(v=nabi.Variable(1.0)).restore(None)
    for check in (status.assert_consumed, status.assert_existing_objects_matched,
                  status.assert_nontrivial_match):
        with pytest.raises(AssertionError, match="No checkpoint specified"):
            check()
    assert status.expect_partial() is status


def test_status_assertions(tmp_path):
    a, b = nabi.Variable([1.0]), nabi.Variable([2.0])
    path = nabi.train.Checkpoint(a=a, b=b).write(str(tmp_path / "w"))
    # the checkpoint has more than the program uses
    status = nabi.train.Checkpoint(a=nabi.Variable([0.0])).read(path)
    status.assert_existing_objects_matched().assert_nontrivial_match().expect_partial()
    with pytest.raises(AssertionError, match="b/.ATTRIBUTES"):
        status.assert_consumed()
    # the program has more than the checkpoint
    status = nabi.train.Checkpoint(a=a, b=b, c=nabi.Variable([3.0])).read(path)
    with pytest.raises(AssertionError, match="c/.ATTRIBUTES"):
        status.assert_existing_objects_matched()
    # nothing in common
    status = nabi.train.Checkpoint(z=nabi.Variable([0.0])).read(path)
    with pytest.raises(AssertionError, match="nothing in checkpoint"):
        status.assert_nontrivial_match()


# ----------------------------------------------------------------------------- errors
def test_shape_mismatch_names_key_and_shapes(tmp_path):
    path = nabi.train.Checkpoint(model=_mlp(units=4)).write(str(tmp_path / "w"))
    other = _mlp(units=5)
    before = _weights(other)
    with pytest.raises(ValueError, match=r"model/layer_with_weights-0/kernel.*\(3, 4\).*\(3, 5\)"):
        nabi.train.Checkpoint(model=other).read(path)
    for a, b in zip(before, _weights(other)):     # nothing was half-restored
        np.testing.assert_array_equal(a, b)


def test_shape_mismatch_of_deferred_weight_at_build(tmp_path):
    path = nabi.train.Checkpoint(model=_mlp(units=4)).write(str(tmp_path / "w"))
    other = _mlp(built=False, units=5)
    nabi.train.Checkpoint(model=other).read(path)
    with pytest.raises(ValueError, match=r"layer_with_weights-0/kernel.*\(3, 4\).*\(3, 5\)"):
        other(np.ones((1, 3), np.float32))


def test_missing_checkpoint_is_not_found(tmp_path):
    from nabi.compat.v1.errors import NotFoundError
    ckpt = nabi.train.Checkpoint(v=nabi.Variable(1.0))
    with pytest.raises(NotFoundError, match="ckpt-9"):
        ckpt.restore(str(tmp_path / "ckpt-9"))
    with pytest.raises(NotFoundError, match="directory"):
        ckpt.restore(str(tmp_path))
    with pytest.raises(NotFoundError, match="not found"):
        nabi.train.load_variable(ckpt.write(str(tmp_path / "w")), "nope")


def test_wrong_kind_of_object_is_an_error(tmp_path):
    path = nabi.train.Checkpoint(x=nabi.Variable(1.0)).write(str(tmp_path / "w"))
    with pytest.raises(ValueError, match="x"):
        nabi.train.Checkpoint(x=layers.Dense(2)).read(path)


# ----------------------------------------------------------------------------- manager
def test_checkpoint_manager_keeps_max_to_keep(tmp_path):
    d = str(tmp_path / "ckpts")
    v = nabi.Variable(0.0)
    ckpt = nabi.train.Checkpoint(v=v)
    manager = nabi.train.CheckpointManager(ckpt, d, max_to_keep=2)
    assert manager.latest_checkpoint is None and manager.checkpoints == []
    saved = []
    for i in range(4):
        v.assign(float(i))
        saved.append(manager.save())
    assert saved == [os.path.join(d, f"ckpt-{i}") for i in range(1, 5)]
    assert manager.checkpoints == saved[2:]
    assert manager.latest_checkpoint == saved[3]
    assert sorted(os.listdir(d)) == ["checkpoint", "ckpt-3.data-00000-of-00001", "ckpt-3.index",
                                     "ckpt-4.data-00000-of-00001", "ckpt-4.index"]
    with open(os.path.join(d, "checkpoint")) as fh:
        lines = fh.read().splitlines()
    assert lines[:3] == ['model_checkpoint_path: "ckpt-4"', 'all_model_checkpoint_paths: "ckpt-3"',
                         'all_model_checkpoint_paths: "ckpt-4"']
    assert [l.split(":")[0] for l in lines[3:]] == ["all_model_checkpoint_timestamps"] * 2 + \
        ["last_preserved_timestamp"]
    assert nabi.train.latest_checkpoint(d) == saved[3]
    st = nabi.train.get_checkpoint_state(d)
    assert st.all_model_checkpoint_paths == saved[2:]
    assert len(st.all_model_checkpoint_timestamps) == 2

    # an explicit number; a new manager on the directory takes its checkpoints over
    assert manager.save(checkpoint_number=nabi.Variable(100, dtype="int64")) == \
        os.path.join(d, "ckpt-100")
    again = nabi.train.CheckpointManager(nabi.train.Checkpoint(v=v), d, max_to_keep=2)
    assert again.checkpoints == [saved[3], os.path.join(d, "ckpt-100")]
    assert again.latest_checkpoint == os.path.join(d, "ckpt-100")
    v.assign(-1.0)
    assert again.restore_or_initialize() == os.path.join(d, "ckpt-100")
    assert float(v.numpy()) == 3.0


def test_checkpoint_manager_keep_all_and_initialize(tmp_path):
    calls = []
    ckpt = nabi.train.Checkpoint(v=nabi.Variable(1.0))
    manager = nabi.train.CheckpointManager(ckpt, str(tmp_path), max_to_keep=None,
                                           checkpoint_name="model", init_fn=lambda: calls.append(1))
    assert manager.restore_or_initialize() is None and calls == [1]
    for _ in range(7):
        manager.save()
    assert len(manager.checkpoints) == 7
    assert manager.checkpoints[0].endswith("model-1")
    with pytest.raises(ValueError, match="max_to_keep"):
        nabi.train.CheckpointManager(ckpt, str(tmp_path), max_to_keep=0)


def test_latest_checkpoint_finds_compat_v1_saver_checkpoints(tmp_path):
    import nabi.compat.v1 as tf1
    with tf1.Graph().as_default():
        tf1.Variable([1.0, 2.0], name="v")
        saver = tf1.train.Saver()
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            path = saver.save(sess, str(tmp_path / "model.ckpt"), global_step=3)
    assert nabi.train.latest_checkpoint(str(tmp_path)) == path
    with pytest.raises(Exception, match="Saver.restore"):
        nabi.train.Checkpoint(v=nabi.Variable([0.0, 0.0])).restore(path)


def test_compat_v1_train_is_separate():
    import nabi.compat.v1 as tf1
    assert tf1.train is not nabi.train
    assert hasattr(tf1.train, "Saver") and hasattr(tf1.train, "AdamOptimizer")
    assert not hasattr(nabi.train, "Saver")


# ----------------------------------------------------------------------------- DCGAN tutorial
def _generator(noise_dim):
    return keras.Sequential([
        layers.Dense(3 * 3 * 4, use_bias=False, input_shape=(noise_dim,)),
        layers.BatchNormalization(),
        layers.LeakyReLU(),
        layers.Reshape((3, 3, 4)),
        layers.Conv2DTranspose(2, (3, 3), strides=(2, 2), padding="same", use_bias=False),
        layers.BatchNormalization(),
        layers.LeakyReLU(),
        layers.Conv2DTranspose(1, (3, 3), strides=(2, 2), padding="same", use_bias=False,
                               activation="tanh"),
    ])


def _discriminator():
    return keras.Sequential([
        layers.Conv2D(4, (3, 3), strides=(2, 2), padding="same", input_shape=[12, 12, 1]),
        layers.LeakyReLU(),
        layers.Dropout(0.3),
        layers.Flatten(),
        layers.Dense(1),
    ])


def _gan():
    return (_generator(5), _discriminator(), keras.optimizers.Adam(1e-3),
            keras.optimizers.Adam(1e-3))


def _train_epoch(g, d, g_opt, d_opt, images, noises):
    cross_entropy = keras.losses.BinaryCrossentropy(from_logits=True)
    for batch, noise in zip(images, noises):
        with nabi.GradientTape() as gen_tape, nabi.GradientTape() as disc_tape:
            generated = g(noise, training=True)
            real_output = d(batch, training=False)      # no dropout: repeatable
            fake_output = d(generated, training=False)
            gen_loss = cross_entropy(nabi.ones_like(fake_output), fake_output)
            disc_loss = cross_entropy(nabi.ones_like(real_output), real_output) + \
                cross_entropy(nabi.zeros_like(fake_output), fake_output)
        g_grads = gen_tape.gradient(gen_loss, g.trainable_variables)
        d_grads = disc_tape.gradient(disc_loss, d.trainable_variables)
        g_opt.apply_gradients(zip(g_grads, g.trainable_variables))
        d_opt.apply_gradients(zip(d_grads, d.trainable_variables))


def test_dcgan_tutorial_checkpointing(tmp_path, where):
    rng = np.random.default_rng(7)
    images = [rng.uniform(-1, 1, (4, 12, 12, 1)).astype(np.float32) for _ in range(2)]
    noises = [[rng.standard_normal((4, 5)).astype(np.float32) for _ in range(2)]
              for _ in range(4)]
    checkpoint_dir = str(tmp_path / "training_checkpoints")
    checkpoint_prefix = os.path.join(checkpoint_dir, "ckpt")
    with nabi.device(where):
        _seed(8)
        generator, discriminator, generator_optimizer, discriminator_optimizer = _gan()
        checkpoint = nabi.train.Checkpoint(generator_optimizer=generator_optimizer,
                                           discriminator_optimizer=discriminator_optimizer,
                                           generator=generator, discriminator=discriminator)
        for epoch in range(3):
            _train_epoch(generator, discriminator, generator_optimizer, discriminator_optimizer,
                         images, noises[epoch])
            checkpoint.save(file_prefix=checkpoint_prefix)
        saved = [w.numpy() for w in generator.weights + discriminator.weights]
        _train_epoch(generator, discriminator, generator_optimizer, discriminator_optimizer,
                     images, noises[3])
        expected = [w.numpy() for w in generator.weights + discriminator.weights]

        _seed(9)
        g2, d2, g_opt2, d_opt2 = _gan()
        checkpoint2 = nabi.train.Checkpoint(generator_optimizer=g_opt2,
                                            discriminator_optimizer=d_opt2,
                                            generator=g2, discriminator=d2)
        latest = nabi.train.latest_checkpoint(checkpoint_dir)
        assert latest == checkpoint_prefix + "-3"
        checkpoint2.restore(latest).assert_consumed()
        for a, b in zip(saved, g2.weights + d2.weights):
            np.testing.assert_array_equal(b.numpy(), a)
        _train_epoch(g2, d2, g_opt2, d_opt2, images, noises[3])
        assert all(_on_device(where, v) for v in g2.trainable_variables)
    for a, b in zip(expected, [w.numpy() for w in g2.weights + d2.weights]):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    assert int(g_opt2.iterations.numpy()) == 8 and int(checkpoint2.save_counter.numpy()) == 3
    assert sorted(f for f in os.listdir(checkpoint_dir) if f.endswith(".index")) == \
        ["ckpt-1.index", "ckpt-2.index", "ckpt-3.index"]
