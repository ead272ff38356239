"""Hand-built segmentation networks as plain tf-keras functional models.

Only built-in Keras layers are used (no ``Lambda``, no custom layer classes), so a saved
``.h5`` loads with ``keras.models.load_model(path, compile=False)`` without
``custom_objects`` and ``tf.lite.TFLiteConverter.from_keras_model`` converts every model.

Every builder ends in an ``Activation`` layer named after its activation: ``sigmoid`` for a
single output channel (binary), ``softmax`` over ``n_out`` channels otherwise.

Layer naming matters for :func:`snakeseg.models.set_encoder_trainable`: in
``mobilenetv2_fcn`` the decoder layers start with ``decoder_`` and everything upstream of
them is the MobileNetV2 encoder.
"""

from __future__ import annotations

from ..tfenv import keras

layers = keras.layers

#: Model names given to the built models (kept in a saved .h5, so a reloaded model is recognised).
CUSTOM_UNET, HRNET, MOBILENETV2_FCN, SIMPLE_CNN = "custom_unet", "hrnet", "mobilenetv2_fcn", "simple_cnn"

#: MobileNetV2 layers the FCN decoder takes its skip connections from (strides 2, 4, 8, 16) and
#: the encoder's deepest feature map (stride 32), as in the TensorFlow segmentation tutorial.
MOBILENETV2_SKIPS = ("block_1_expand_relu", "block_3_expand_relu", "block_6_expand_relu", "block_13_expand_relu")
MOBILENETV2_BOTTOM = "block_16_project"


def output_activation(n_out: int) -> str:
    """``sigmoid`` for one output channel, ``softmax`` for several (class 0 = background)."""
    return "sigmoid" if n_out == 1 else "softmax"


def required_divisor(arch: str, **options) -> int:
    """The input side must be a multiple of this for ``arch`` (its total down-sampling)."""
    if arch == CUSTOM_UNET:
        return 2 ** int(options.get("depth", 4))
    if arch == HRNET:
        return 4 * 2 ** (int(options.get("branches", 4)) - 1)
    if arch == MOBILENETV2_FCN:
        return 32
    return 1


def _check_input(input_shape, arch: str, **options) -> None:
    div = required_divisor(arch, **options)
    h, w = input_shape[:2]
    if h is None or w is None or h % div or w % div:
        raise ValueError(f"{arch}: input height and width must be multiples of {div}, got {input_shape[:2]}")


def _head(x, n_out: int, name: str = "head"):
    x = layers.Conv2D(n_out, 1, padding="same", name=f"{name}_conv")(x)
    act = output_activation(n_out)
    return layers.Activation(act, name=act)(x)


def _conv_bn_relu(x, filters, kernel=3, strides=1, batchnorm=True, relu=True, name="conv"):
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=not batchnorm,
                      kernel_initializer="he_normal", name=f"{name}_conv")(x)
    if batchnorm:
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    if relu:
        x = layers.Activation("relu", name=f"{name}_relu")(x)
    return x


# ----------------------------------------------------------------------------------------------
# UNet with parametric depth
# ----------------------------------------------------------------------------------------------

def custom_unet(input_shape, n_out: int, depth: int = 4, base_filters: int = 16, convs_per_level: int = 2,
                dropout: float = 0.0, batchnorm: bool = True):
    """A hand-built UNet: ``depth`` max-pool levels, filters doubling per level.

    Each level is ``convs_per_level`` 3x3 convolutions (+BatchNorm) + ReLU; the decoder
    up-samples with a stride-2 ``Conv2DTranspose`` and concatenates the encoder's feature map
    of the same resolution. ``dropout`` > 0 adds Dropout after every pooling and every skip
    concatenation. Input sides must be multiples of ``2 ** depth``.
    """
    if depth < 1 or convs_per_level < 1 or base_filters < 1:
        raise ValueError("custom_unet: depth, convs_per_level and base_filters must be >= 1")
    _check_input(input_shape, CUSTOM_UNET, depth=depth)

    def block(x, filters, name):
        for i in range(convs_per_level):
            x = _conv_bn_relu(x, filters, batchnorm=batchnorm, name=f"{name}_{i + 1}")
        return x

    inputs = layers.Input(shape=input_shape, name="image")
    x, skips = inputs, []
    for level in range(depth):
        x = block(x, base_filters * 2 ** level, f"enc{level + 1}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"enc{level + 1}_pool")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"enc{level + 1}_dropout")(x)
    x = block(x, base_filters * 2 ** depth, "bottleneck")
    for level in reversed(range(depth)):
        filters = base_filters * 2 ** level
        x = layers.Conv2DTranspose(filters, 2, strides=2, padding="same", name=f"dec{level + 1}_up")(x)
        x = layers.Concatenate(name=f"dec{level + 1}_concat")([x, skips[level]])
        if dropout:
            x = layers.Dropout(dropout, name=f"dec{level + 1}_dropout")(x)
        x = block(x, filters, f"dec{level + 1}")
    return keras.Model(inputs, _head(x, n_out), name=CUSTOM_UNET)


# ----------------------------------------------------------------------------------------------
# HRNet
# ----------------------------------------------------------------------------------------------

def _basic_block(x, filters, name):
    """ResNet basic block (two 3x3 convolutions and an identity or 1x1 shortcut)."""
    shortcut = x
    if x.shape[-1] != filters:
        shortcut = _conv_bn_relu(x, filters, kernel=1, relu=False, name=f"{name}_proj")
    y = _conv_bn_relu(x, filters, name=f"{name}_a")
    y = _conv_bn_relu(y, filters, relu=False, name=f"{name}_b")
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.Activation("relu", name=f"{name}_out")(y)


def _fuse(branches, channels, name):
    """HRNet multi-resolution fusion: every output branch sums all inputs brought to its scale.

    Higher-resolution inputs are reduced by repeated stride-2 3x3 convolutions, lower-resolution
    ones by a 1x1 convolution then bilinear up-sampling.
    """
    out = []
    for i, ci in enumerate(channels):
        terms = []
        for j, xj in enumerate(branches):
            tag = f"{name}_{j}to{i}"
            if j == i:
                terms.append(xj)
            elif j > i:
                y = _conv_bn_relu(xj, ci, kernel=1, relu=False, name=tag)
                terms.append(layers.UpSampling2D(2 ** (j - i), interpolation="bilinear", name=f"{tag}_up")(y))
            else:
                y = xj
                for k in range(i - j):
                    last = k == i - j - 1
                    y = _conv_bn_relu(y, ci if last else channels[j], strides=2, relu=not last, name=f"{tag}_down{k}")
                terms.append(y)
        y = layers.Add(name=f"{name}_sum{i}")(terms)
        out.append(layers.Activation("relu", name=f"{name}_relu{i}")(y))
    return out


def hrnet(input_shape, n_out: int, width: int = 16, branches: int = 4, blocks: int = 2):
    """A small HRNet (HRNetV2 head) written from scratch.

    Stem: two stride-2 3x3 convolutions (stride 4). Stage 1 is one branch of ``blocks`` basic
    blocks; every further stage adds a branch at half the resolution and twice the channels
    (``width * 2**i``), runs ``blocks`` basic blocks per branch and fuses all branches
    (repeated multi-scale fusion), up to ``branches`` (2-4) branches. Head: every branch
    bilinearly up-sampled to stride 4 and concatenated, 1x1 conv, bilinear x4 up-sampling back
    to full resolution, 3x3 conv, 1x1 classifier. Input sides must be multiples of
    ``4 * 2 ** (branches - 1)`` (32 with 4 branches).
    """
    if not 2 <= branches <= 4:
        raise ValueError(f"hrnet: branches must be 2, 3 or 4, got {branches}")
    if width < 1 or blocks < 1:
        raise ValueError("hrnet: width and blocks must be >= 1")
    _check_input(input_shape, HRNET, branches=branches)
    channels = [width * 2 ** i for i in range(branches)]

    inputs = layers.Input(shape=input_shape, name="image")
    x = _conv_bn_relu(inputs, 2 * width, strides=2, name="stem1")
    x = _conv_bn_relu(x, 2 * width, strides=2, name="stem2")
    for b in range(blocks):
        x = _basic_block(x, 2 * width, name=f"stage1_block{b + 1}")

    xs = [_conv_bn_relu(x, channels[0], name="transition1_b0")]
    for stage in range(2, branches + 1):
        n = stage  # branches in this stage
        new = _conv_bn_relu(xs[-1], channels[n - 1], strides=2, name=f"transition{stage - 1}_b{n - 1}")
        xs = xs + [new]
        for i in range(n):
            for b in range(blocks):
                xs[i] = _basic_block(xs[i], channels[i], name=f"stage{stage}_b{i}_block{b + 1}")
        xs = _fuse(xs, channels[:n], name=f"stage{stage}_fuse")

    ups = [xs[0]] + [layers.UpSampling2D(2 ** i, interpolation="bilinear", name=f"head_up_b{i}")(xi)
                     for i, xi in enumerate(xs) if i > 0]
    y = layers.Concatenate(name="head_concat")(ups)
    y = _conv_bn_relu(y, sum(channels), kernel=1, name="head_mix")
    y = layers.UpSampling2D(4, interpolation="bilinear", name="head_up_full")(y)
    y = _conv_bn_relu(y, width, name="head_refine")
    return keras.Model(inputs, _head(y, n_out), name=HRNET)


# ----------------------------------------------------------------------------------------------
# MobileNetV2 encoder + pix2pix-style transposed-convolution decoder
# ----------------------------------------------------------------------------------------------

def mobilenetv2_fcn(input_shape, n_out: int, weights=None, alpha: float = 1.0,
                    decoder_filters=(512, 256, 128, 64)):
    """MobileNetV2 encoder with a pix2pix-style decoder (the TensorFlow segmentation tutorial).

    ``weights``: ``None`` (random), ``"imagenet"`` (downloaded by Keras) or the path of a local
    weights file of ``keras.applications.MobileNetV2(include_top=False, alpha=alpha)``.
    The images (float in [0, 1]) are mapped to MobileNetV2's [-1, 1] range by a ``Rescaling``
    layer. Four decoder stages (``Conv2DTranspose`` stride 2 + BatchNorm + ReLU, then
    concatenation with the ``block_13/6/3/1_expand_relu`` features) go from stride 32 back to
    stride 2; a final stride-2 ``Conv2DTranspose`` gives full resolution. Input sides must be
    multiples of 32.
    """
    if len(decoder_filters) != 4:
        raise ValueError(f"mobilenetv2_fcn: decoder_filters needs 4 values, got {list(decoder_filters)}")
    _check_input(input_shape, MOBILENETV2_FCN)
    inputs = layers.Input(shape=input_shape, name="image")
    scaled = layers.Rescaling(2.0, offset=-1.0, name="preprocess")(inputs)
    base = keras.applications.MobileNetV2(input_shape=tuple(input_shape), input_tensor=scaled, alpha=alpha,
                                          include_top=False, weights=weights)
    x = base.get_layer(MOBILENETV2_BOTTOM).output
    skips = [base.get_layer(name).output for name in MOBILENETV2_SKIPS]
    for i, (filters, skip) in enumerate(zip(decoder_filters, reversed(skips))):
        x = layers.Conv2DTranspose(filters, 3, strides=2, padding="same", use_bias=False,
                                   kernel_initializer=keras.initializers.RandomNormal(0.0, 0.02),
                                   name=f"decoder_up{i + 1}_convT")(x)
        x = layers.BatchNormalization(name=f"decoder_up{i + 1}_bn")(x)
        x = layers.Activation("relu", name=f"decoder_up{i + 1}_relu")(x)
        x = layers.Concatenate(name=f"decoder_up{i + 1}_concat")([x, skip])
    x = layers.Conv2DTranspose(n_out, 3, strides=2, padding="same", name="decoder_final_convT")(x)
    act = output_activation(n_out)
    return keras.Model(inputs, layers.Activation(act, name=act)(x), name=MOBILENETV2_FCN)


# ----------------------------------------------------------------------------------------------
# Baseline
# ----------------------------------------------------------------------------------------------

def simple_cnn(input_shape, n_out: int, filters: int = 32, layers: int = 4):  # noqa: A002 - mirrors the config key
    """Baseline: ``layers`` same-padding 3x3 convolutions + ReLU at full resolution, 1x1 classifier."""
    n_layers = layers
    if n_layers < 1 or filters < 1:
        raise ValueError("simple_cnn: filters and layers must be >= 1")
    kl = keras.layers
    inputs = kl.Input(shape=input_shape, name="image")
    x = inputs
    for i in range(n_layers):
        x = kl.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer="he_normal",
                      name=f"conv{i + 1}")(x)
    return keras.Model(inputs, _head(x, n_out), name=SIMPLE_CNN)
