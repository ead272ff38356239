"""snakeseg.training.supervision: deep supervision heads train with the model and leave its export alone."""

from __future__ import annotations

import numpy as np
import pytest

from snakeseg.errors import InputError
from snakeseg.tfenv import keras, tf
from snakeseg.training.fit import fit_fold
from snakeseg.training.losses import make_loss
from snakeseg.training.models import build_model, load_model
from snakeseg.training.supervision import applies, for_training, head_weights, supervised_loss, supervised_model
from test_training_fit import train_cfg
from test_training_pipeline import write_pairs

UNET = {"arch": "Unet", "backbone": "resnet18", "decoder_filters": [16, 8, 8, 8, 8]}


def test_head_weights_halve_per_level_and_sum_to_one():
    weights = head_weights(3)
    assert weights == pytest.approx([8 / 15, 4 / 15, 2 / 15, 1 / 15])


def test_heads_output_every_stage_at_full_size_and_the_loss_weights_them():
    keras.utils.set_random_seed(0)
    model = supervised_model(build_model(UNET, 64), 1)
    assert model.output.shape[1:] == (64, 64, 4)
    x = np.random.default_rng(0).random((2, 64, 64, 3), dtype=np.float32)
    y = tf.constant((np.random.default_rng(1).random((2, 64, 64, 1)) > 0.5).astype("float32"))
    pred = model(x)
    dice = make_loss("dice")
    per_head = [float(dice(y, pred[..., i:i + 1])) for i in range(4)]
    assert len(set(round(v, 6) for v in per_head)) == 4  # the heads predict differently
    assert float(supervised_loss(dice, 1)(y, pred)) == pytest.approx(np.dot(head_weights(3), per_head), rel=1e-5)


def test_auto_supervises_a_unet_only_and_true_refuses_other_models_naming_the_key():
    unet, cnn = build_model(UNET, 32), build_model({"arch": "simple_cnn", "filters": 4, "layers": 2}, 32)
    assert applies("auto", unet) and not applies("auto", cnn)
    assert applies(True, cnn) and not applies(False, unet)
    with pytest.raises(InputError, match="deep_supervision"):
        supervised_model(cnn, 1)


def test_a_deeply_supervised_fold_exports_the_plain_network_with_the_trained_weights(tmp_path):
    keras.utils.set_random_seed(0)
    shard = str(tmp_path / "s.tfrec")
    write_pairs(shard, 8, np.random.default_rng(0), size=32, n_labels=2)
    final, history = fit_fold([shard], [shard], 8, UNET, train_cfg(epochs=2, deep_supervision=True), 32,
                              str(tmp_path / "work"))
    exported = load_model(str(final))
    assert exported.output.shape[-1] == 1
    assert not any(layer.name.startswith("deep_supervision") for layer in exported.layers)
    trained = keras.models.load_model(str(tmp_path / "work" / "best.h5"), compile=False)
    assert trained.output.shape[-1] == 4
    x = np.random.default_rng(2).random((2, 32, 32, 3), dtype=np.float32)
    np.testing.assert_allclose(exported.predict(x, verbose=0), trained.predict(x, verbose=0)[..., :1], atol=1e-5)
    assert "val_iou_score" in history.read_text().splitlines()[0]


def test_a_multiclass_unet_trains_with_heads_and_scores_its_main_output():
    keras.utils.set_random_seed(0)
    from snakeseg.training.fit import compile_model
    model, deep = for_training(build_model(UNET, 32, n_classes=3), "auto", 3)
    assert deep and model.output.shape[-1] == 12
    compile_model(model, train_cfg(loss="cce_ignore"), 3, False, deep)
    x = np.random.default_rng(0).random((4, 32, 32, 3), dtype=np.float32)
    y = np.random.default_rng(1).integers(0, 3, (4, 32, 32, 1)).astype("float32")
    scores = model.evaluate(x, y, verbose=0, return_dict=True)
    main = keras.metrics.MeanIoU(num_classes=3, sparse_y_true=True, sparse_y_pred=False)
    main.update_state(y, model.predict(x, verbose=0)[..., :3])
    assert scores["iou_score"] == pytest.approx(float(main.result()), abs=1e-6)
