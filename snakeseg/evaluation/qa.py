"""The dataset QA tables: every usable image's properties, and everything set aside."""

from __future__ import annotations

from collections import Counter, defaultdict

import pandas as pd

DATASET_COLUMNS = ["id", "shard", "source", "width", "height", "channels", "dtype", "mask_encoding", "coverage",
                   "n_instances", "empty_mask", "duplicate_pixels", "duplicate_of", "stray_pixels", "stray_values",
                   "stray_action", "ignored_fraction", "class_pixels"]
REJECTED_COLUMNS = ["id", "shard", "files", "reason"]


def tables(indexes: list[dict], unassigned: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(dataset table, rejected table, summary) from the merge stage's shard indexes."""
    rows = [{**item, "shard": index["shard"]} for index in indexes for item in index["items"]]
    by_hash = defaultdict(list)
    for row in rows:
        by_hash[row["pixel_hash"]].append(row["id"])
    for row in rows:
        twins = [i for i in by_hash[row["pixel_hash"]] if i != row["id"]]
        row["duplicate_pixels"], row["duplicate_of"] = bool(twins), " ".join(twins)
    dataset = pd.DataFrame(rows, columns=DATASET_COLUMNS).sort_values("id", kind="stable")
    rejected = [{"id": "", "shard": "", "files": e["file"], "reason": e["reason"]} for e in unassigned]
    for index in indexes:
        rejected += [{"id": image_id, "shard": index["shard"], "files": " ".join(e["files"]), "reason": e["reason"]}
                     for image_id, e in sorted(index["set_aside"].items())]
    rejected = pd.DataFrame(rejected, columns=REJECTED_COLUMNS)
    summary = {
        "n_images": len(dataset),
        "n_set_aside": int((rejected["id"] != "").sum()),
        "n_files_ignored": int((rejected["id"] == "").sum()),
        "n_empty_masks": int(dataset["empty_mask"].sum()),
        "n_duplicate_pixels": int(dataset["duplicate_pixels"].sum()),
        "n_masks_with_stray_values": int((dataset["stray_pixels"] > 0).sum()),
        "sizes": dict(Counter(f"{w}x{h}" for w, h in zip(dataset["width"], dataset["height"])).most_common()),
        "channels": {str(k): int(v) for k, v in Counter(dataset["channels"]).items()},
        "mask_encodings": dict(Counter(dataset["mask_encoding"]).most_common()),
        "coverage_median": round(float(dataset["coverage"].median()), 6) if len(dataset) else None,
        "instances_median": float(dataset["n_instances"].median()) if len(dataset) else None,
        "class_pixels": _class_totals(dataset["class_pixels"]),
    }
    return dataset, rejected, summary


def _class_totals(column: pd.Series) -> dict:
    """{class index: pixels over all masks} of the ``class_pixels`` column ("1:1717 2:0 ..."); empty
    for one class (and for shards merged before the column existed)."""
    totals = Counter()
    for text in column.dropna():
        for pair in str(text).split():
            index, pixels = pair.split(":")
            totals[index] += int(pixels)
    return dict(sorted(totals.items(), key=lambda kv: int(kv[0])))
