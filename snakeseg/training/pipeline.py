"""The tf.data input pipeline: TFRecord shards -> (augmented) float batches of (image, label map)."""

from __future__ import annotations

from . import augment as augmentation
from ..tfenv import tf

FEATURES = {
    "id": tf.io.FixedLenFeature([], tf.string),
    "image": tf.io.FixedLenFeature([], tf.string),
    "mask": tf.io.FixedLenFeature([], tf.string),
    "height": tf.io.FixedLenFeature([], tf.int64),
    "width": tf.io.FixedLenFeature([], tf.int64),
    "n_instances": tf.io.FixedLenFeature([], tf.int64),
}


def decode_record(record):
    """One serialised example -> (image uint8 HxWx3, label map uint8 HxWx1)."""
    ex = tf.io.parse_single_example(record, FEATURES)
    return tf.io.decode_png(ex["image"], channels=3), tf.io.decode_png(ex["mask"], channels=1)


def to_float(image, labels):
    """The model's input convention: image float32 in [0, 1] (``x * float32(1/255)``); target float32
    label map (0 background, 1..n classes, IGNORE (255) for pixels the losses and metrics leave out)."""
    return tf.cast(image, tf.float32) * (1 / 255), tf.cast(labels, tf.float32)


def parse_record(record):
    """One serialised example -> (image, target) as the model sees them, without augmentation."""
    return to_float(*decode_record(record))


def n_outputs(n_classes: int) -> int:
    """Model output channels: 1 (sigmoid) for one class, background + classes (softmax) otherwise."""
    return 1 if n_classes == 1 else n_classes + 1


def pairs_bytes(n_pairs: int, image_size: int) -> int:
    """Memory of ``n_pairs`` decoded pairs: ``image_size^2 x 4`` bytes each (RGB and label map, uint8)."""
    return n_pairs * image_size ** 2 * 4


def fits_cache(n_pairs: int, image_size: int, cache_mb: float) -> bool:
    """Whether ``n_pairs`` decoded pairs fit ``cache_mb`` (``train.cache_mb``, MB of 10^6 bytes)."""
    return pairs_bytes(n_pairs, image_size) <= cache_mb * 1e6


def make_dataset(files: list[str], batch_size: int, training: bool, augment: dict | None = None,
                 n_items: int = 1, seed: int = 0, cache_decoded: bool = True):
    """Batches of (image, target) from TFRecord shards.

    With ``cache_decoded`` the decoded uint8 pairs are kept in memory after the first pass
    (``cache()``); without it every step decodes its PNGs again. Training: shuffle (a buffer of
    ``n_items``, the number of pairs, reshuffled each epoch), repeat, then per pair a flip/rotation
    drawn uniformly from :func:`augment.dihedral_group` (image and label map alike), the conversion
    to float and, when ``augment`` asks for them, arbitrary-angle rotation and colour jitter; batches
    of exactly ``batch_size``. Validation: the pairs in file order, converted and batched only.
    """
    auto = tf.data.AUTOTUNE
    ds = tf.data.TFRecordDataset(files)
    if cache_decoded:
        ds = ds.map(decode_record, num_parallel_calls=auto).cache()
    if not training:
        if not cache_decoded:
            ds = ds.map(decode_record, num_parallel_calls=auto)
        return ds.map(to_float, num_parallel_calls=auto).batch(batch_size).prefetch(auto)

    aug = augmentation.resolve(augment)
    group = augmentation.dihedral_group(aug)
    per_pair = augmentation.per_pair_ops(aug)

    def augment_pair(pair, seeds):
        image, target = to_float(*augmentation.random_dihedral(*pair, group, seeds[0]))
        return augmentation.rotate_and_jitter(image, target, aug, seeds[1]) if per_pair else (image, target)

    # Shuffling the records before decoding keeps the shuffle buffer small when nothing is cached.
    ds = ds.shuffle(max(n_items, 1), seed=seed, reshuffle_each_iteration=True).repeat()
    if not cache_decoded:
        ds = ds.map(decode_record, num_parallel_calls=auto)
    # Each pair's own seeds, from a seeded sequence: the same augmentation in every run of the fold.
    seeds = tf.data.Dataset.random(seed=seed).batch(4).map(lambda s: tf.reshape(s, [2, 2]))
    ds = tf.data.Dataset.zip((ds, seeds)).map(augment_pair, num_parallel_calls=auto)
    return ds.batch(batch_size, drop_remainder=True).prefetch(auto)
