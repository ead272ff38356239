"""The tf.data input pipeline: TFRecord shards -> (augmented) float batches of (image, label map),
as patches at the images' own resolution (``train.mode: native``) or whole images resized to a
square (``resize``)."""

from __future__ import annotations

from . import augment as augmentation
from . import degrade, patches
from ..tfenv import tf

FEATURES = {
    "id": tf.io.FixedLenFeature([], tf.string),
    "image": tf.io.FixedLenFeature([], tf.string),
    "mask": tf.io.FixedLenFeature([], tf.string),
    "height": tf.io.FixedLenFeature([], tf.int64),
    "width": tf.io.FixedLenFeature([], tf.int64),
    "n_instances": tf.io.FixedLenFeature([], tf.int64),
}

#: What the pipeline makes of the records: ``mode`` native (``patch_size`` patches, a
#: ``foreground_fraction`` of them on foreground) or resize (``image_size`` squares), and the
#: per-image intensity normalisation ``normalize`` (:mod:`snakeseg.data.normalize`).
DEFAULT_RECIPE = {"mode": "resize", "image_size": None, "patch_size": None, "foreground_fraction": 1 / 3,
                  "normalize": "none", "polarity": "keep"}


def decode_record(record):
    """One serialised example -> (image uint8 HxWx3, label map uint8 HxWx1)."""
    ex = tf.io.parse_single_example(record, FEATURES)
    return tf.io.decode_png(ex["image"], channels=3), tf.io.decode_png(ex["mask"], channels=1)


def to_float(image, labels):
    """Image float32 in [0, 1] (``x * float32(1/255)``); target float32 label map (0 background,
    1..n classes, IGNORE (255) for pixels the losses and metrics leave out)."""
    return tf.cast(image, tf.float32) * (1 / 255), tf.cast(labels, tf.float32)


def parse_record(record):
    """One serialised example -> (image, target) in [0, 1], without resizing or augmentation."""
    return to_float(*decode_record(record))


def resize_square(image, labels, size: int):
    """Image (antialiased bilinear) and label map (nearest) resized to ``size`` x ``size``, uint8."""
    image = tf.image.resize(image, [size, size], method="bilinear", antialias=True)
    image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
    return image, tf.image.resize(labels, [size, size], method="nearest")


def n_outputs(n_classes: int) -> int:
    """Model output channels: 1 (sigmoid) for one class, background + classes (softmax) otherwise."""
    return 1 if n_classes == 1 else n_classes + 1


def pairs_bytes(pixels: int) -> int:
    """Memory of decoded pairs of ``pixels`` pixels in all: 4 bytes each (RGB and label map, uint8)."""
    return pixels * 4


def fits_cache(pixels: int, cache_mb: float) -> bool:
    """Whether decoded pairs of ``pixels`` pixels fit ``cache_mb`` (``train.cache_mb``, MB of 10^6 bytes)."""
    return pairs_bytes(pixels) <= cache_mb * 1e6


#: Validation patches per image in native mode: a fixed set, the same every epoch.
VAL_PATCHES_PER_IMAGE = 2


def fixed_patches(image, labels, stats, index, recipe: dict):
    """:data:`VAL_PATCHES_PER_IMAGE` patches of one validation image, drawn as training draws them
    but with seeds fixed by the image's position: the early-stopping signal sees the same pixels
    every epoch."""
    drawn = [patches.sample_patch(image, labels, recipe["patch_size"], recipe["foreground_fraction"],
                                  tf.stack([tf.cast(index, tf.int32), j]))
             for j in range(VAL_PATCHES_PER_IMAGE)]
    images, targets = tf.stack([d[0] for d in drawn]), tf.stack([d[1] for d in drawn])
    return tf.data.Dataset.from_tensor_slices((images, targets, tf.tile(stats[None], [VAL_PATCHES_PER_IMAGE, 1])))


def make_dataset(files: list[str], batch_size: int, training: bool, augment: dict | None = None,
                 n_items: int = 1, seed: int = 0, cache_decoded: bool = True, recipe: dict | None = None):
    """Batches of (image, target) from TFRecord shards.

    Each pair is decoded, resized in ``resize`` mode, and given its intensity statistics; with
    ``cache_decoded`` these are kept in memory after the first pass. Training: each pair repeated
    :func:`patches.draws_per_image` times (native), shuffle (a buffer of ``n_items``, the epoch's
    samples), repeat, then per pair a random patch (native mode, :func:`patches.sample_patch`, zoomed
    by ``augment.scale``), a
    flip/rotation drawn from :func:`augment.dihedral_group`, the conversion to float, optional
    arbitrary-angle rotation, colour jitter and gamma, the normalisation, then noise, blur and low
    resolution (:mod:`degrade`); batches of exactly ``batch_size``.
    Validation: a fixed set, :func:`fixed_patches` of each image (native) or the resized images.
    """
    recipe = {**DEFAULT_RECIPE, **(recipe or {})}
    native, mode, auto = recipe["mode"] == "native", recipe["normalize"], tf.data.AUTOTUNE
    patch = recipe["patch_size"]

    def prepare(record):
        image, labels = decode_record(record)
        if recipe["mode"] == "resize" and recipe["image_size"]:
            image, labels = resize_square(image, labels, recipe["image_size"])
        return image, labels, patches.intensity_stats(image, mode, recipe["polarity"])

    def finish(image, labels, stats):
        image, target = to_float(image, labels)
        return patches.apply_stats(image, stats, mode), target

    ds = tf.data.TFRecordDataset(files)
    if cache_decoded:
        ds = ds.map(prepare, num_parallel_calls=auto).cache()
    if not training:
        if not cache_decoded:
            ds = ds.map(prepare, num_parallel_calls=auto)
        if native:
            ds = ds.enumerate().flat_map(lambda i, pair: fixed_patches(*pair, i, recipe))
        return ds.map(finish, num_parallel_calls=auto).batch(batch_size).prefetch(auto)

    aug = augmentation.resolve(augment)
    group = augmentation.dihedral_group(aug)
    per_pair = augmentation.per_pair_ops(aug)
    degraded = any(aug[k] for k in degrade.KEYS)

    def draws_of(item):
        if cache_decoded:  # a decoded (image, labels, stats)
            height, width = tf.shape(item[0])[0], tf.shape(item[0])[1]
        else:  # a serialised record
            ex = tf.io.parse_single_example(item[0], {k: FEATURES[k] for k in ("height", "width")})
            height, width = ex["height"], ex["width"]
        return patches.draws_per_image(height, width, patch)

    def augment_pair(pair, seeds):
        image, labels, stats = pair
        if native:
            zoom = augmentation.random_zoom(aug, tf.random.experimental.stateless_fold_in(seeds[2], 1)) \
                if aug["scale"] else None
            image, labels = patches.sample_patch(image, labels, patch, recipe["foreground_fraction"], seeds[2], zoom)
        image, target = to_float(*augmentation.random_dihedral(image, labels, group, seeds[0]))
        if per_pair:
            image, target = augmentation.rotate_and_jitter(image, target, aug, seeds[1])
        image = patches.apply_stats(image, stats, mode)
        if degraded:  # its own stream, so the draws above stay as they were
            image = degrade.degrade(image, aug, tf.random.experimental.stateless_fold_in(seeds[1], 2))
        return image, target

    if native:  # large images give several patches an epoch (patches.draws_per_image)
        ds = ds.flat_map(lambda *item: tf.data.Dataset.from_tensors(item).repeat(draws_of(item)))
    # Shuffling the records before decoding keeps the shuffle buffer small when nothing is cached.
    ds = ds.shuffle(max(n_items, 1), seed=seed, reshuffle_each_iteration=True).repeat()
    if not cache_decoded:
        ds = ds.map(prepare, num_parallel_calls=auto)
    # Each pair's own seeds, from a seeded sequence: the same augmentation in every run of the fold.
    seeds = tf.data.Dataset.random(seed=seed).batch(6).map(lambda s: tf.reshape(s, [3, 2]))
    ds = tf.data.Dataset.zip((ds, seeds)).map(augment_pair, num_parallel_calls=auto)
    return ds.batch(batch_size, drop_remainder=True).prefetch(auto)
