"""Deep supervision (nnU-Net's, ``train.deep_supervision``): during training, extra output heads on
the decoder's coarser stages add their losses to the full-resolution output's, which sends gradient
straight into the deeper decoder stages. The exported model has only the full-resolution output."""

from __future__ import annotations

from ..errors import InputError
from ..tfenv import keras, tf

#: segmentation-models Unet decoder stages given a head, finest first: 1/2, 1/4 and 1/8 of the
#: input (nnU-Net supervises every decoder resolution but the coarsest).
UNET_STAGES = ("decoder_stage3b_relu", "decoder_stage2b_relu", "decoder_stage1b_relu")


def _missing_stages(model) -> list[str]:
    names = {layer.name for layer in model.layers}
    return [name for name in UNET_STAGES if name not in names]


def applies(setting, model) -> bool:
    """``train.deep_supervision``: ``auto`` is on for a model with :data:`UNET_STAGES`, ``true``
    always (:func:`supervised_model` refuses a model without them), ``false`` never."""
    return not _missing_stages(model) if setting == "auto" else bool(setting)


def for_training(model, setting, n_out: int) -> tuple:
    """(the network to train, whether it is deeply supervised): ``model`` wrapped in its heads when
    ``setting`` (``train.deep_supervision``) :func:`applies`."""
    deep = applies(setting, model)
    return (supervised_model(model, n_out) if deep else model), deep


def head_weights(n_heads: int) -> list[float]:
    """nnU-Net's weights: the full-resolution output 1, each coarser head half the one before, summing to 1."""
    raw = [0.5 ** i for i in range(n_heads + 1)]
    return [w / sum(raw) for w in raw]


def supervised_model(model, n_out: int):
    """``model`` (a segmentation-models Unet) with a head on each of :data:`UNET_STAGES`: a 1x1
    convolution, bilinear upsampling to the input's size and the output's activation (in float32),
    concatenated after the model's own output: ``(B, H, W, n_out * 4)``. Shares ``model``'s layers,
    so weights trained in it are ``model``'s."""
    if _missing_stages(model):
        raise InputError(f"config train.deep_supervision with model.arch {model.name}",
                         "needs segmentation-models' Unet decoder stages, which this model lacks",
                         "set train.deep_supervision to auto or false, or use model.arch: Unet")
    activation = model.layers[-1].activation
    side = model.output.shape[1]
    outputs = [model.output]
    for level, name in enumerate(UNET_STAGES, start=1):
        x = model.get_layer(name).output
        x = keras.layers.Conv2D(n_out, 1, name=f"deep_supervision_{level}_conv")(x)
        x = keras.layers.UpSampling2D(side // x.shape[1], interpolation="bilinear",
                                      name=f"deep_supervision_{level}_upsampling")(x)
        outputs.append(keras.layers.Activation(activation, dtype="float32", name=f"deep_supervision_{level}")(x))
    merged = keras.layers.Concatenate(dtype="float32", name="deep_supervision")(outputs)
    return keras.Model(model.input, merged, name=model.name)


def supervised_loss(loss, n_out: int, n_heads: int = len(UNET_STAGES)):
    """``loss`` of the full-resolution output and each head against the same mask, weighted by :func:`head_weights`."""
    weights = head_weights(n_heads)

    def deep_supervision(y_true, y_pred):
        return tf.add_n([w * loss(y_true, y_pred[..., i * n_out:(i + 1) * n_out]) for i, w in enumerate(weights)])
    deep_supervision.__name__ = getattr(loss, "__name__", "loss")
    return deep_supervision


class _MainOutputIoU(keras.metrics.MeanIoU):
    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(y_true, y_pred[..., :self.num_classes], sample_weight)


def main_output_metrics(metrics: list, n_out: int) -> list:
    """``metrics`` computed on the full-resolution output only (the first ``n_out`` channels), same names."""
    wrapped = []
    for metric in metrics:
        if isinstance(metric, keras.metrics.MeanIoU):
            wrapped.append(_MainOutputIoU(num_classes=metric.num_classes, name=metric.name, sparse_y_true=True,
                                          sparse_y_pred=False, ignore_class=metric.ignore_class))
            continue

        def sliced(y_true, y_pred, metric=metric):
            return metric(y_true, y_pred[..., :n_out])
        sliced.__name__ = metric.__name__
        wrapped.append(sliced)
    return wrapped
