"""The report's look at a batch of new images (no truth to score): the overlays of the images the models
are least sure of (lowest expected Dice) and of those with the fewest and the most objects, where a
failed segmentation shows first, and the distributions of objects per image, object area, intensity
and expected Dice."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .gallery import draw_overlay_rows, load_overlay, pick_gallery, save, short_id  # noqa: E402


def count_column(summary: pd.DataFrame) -> tuple[str, str]:
    """The per-image count the overview sorts by, and its name: objects after splitting where the
    outputs have instances, else the foreground's connected components."""
    if "objects" in summary and summary["objects"].notna().any():
        return "objects", "objects"
    return "components", "connected components"


def new_images_overview(summary: pd.DataFrame, objects: pd.DataFrame, overlays: Path, n: int, path: str,
                        title: str) -> None:
    """A figure of the ``n`` images of lowest expected Dice, the ``n`` with the fewest and the ``n`` with
    the most objects (their overlays from ``overlays``), then histograms of objects per image, object
    area, mean intensity and expected Dice."""
    column, what = count_column(summary)
    fewest, most = pick_gallery(summary, n, by=column)
    rows = [(f"fewest {what}", fewest), (f"most {what}", most)]
    sure = "expected_dice" in summary and summary["expected_dice"].notna().any()
    if sure:
        least_sure = pick_gallery(summary, n, "expected_dice")[0]
        rows.insert(0, ("lowest expected Dice: the models' least sure masks", least_sure))
    rows = [(label, [(r, load_overlay(str(overlays / f"{r['id']}.png"))) for _, r in picked.iterrows()])
            for label, picked in rows if len(picked)]
    fig = plt.figure(figsize=(max(2.6 * n, 9), 3.1 * len(rows) + 3.2), layout="constrained")
    subs = np.atleast_1d(fig.subfigures(len(rows) + 1, 1, height_ratios=[3.1] * len(rows) + [3.2]))
    short = "objects" if column == "objects" else "components"  # a caption as wide as its overlay
    draw_overlay_rows(subs, rows, n, lambda row: f"{short_id(row['id'], 16)}\n{int(row[column])} {short.rstrip('s') if row[column] == 1 else short}, "
                                                 f"{100 * row['foreground_fraction']:.1f}% fg"
                                                 + (f"\nexp. Dice {row['expected_dice']:.2f}"
                                                    if sure and pd.notna(row['expected_dice']) else ""))
    histograms = [(summary[column], f"{what} per image", "images", True),
                  (objects["area"], "object area (pixels)", "objects", True),
                  (objects["mean_intensity"], "object mean intensity (stored values)", "objects", True)]
    if sure:  # a score from 0 to 1: never a log axis
        histograms.append((summary["expected_dice"], "expected Dice per image", "images", False))
    for ax, (values, label, unit, log_ok) in zip(subs[-1].subplots(1, len(histograms)), histograms):
        values = pd.to_numeric(values, errors="coerce").dropna()
        if values.empty:
            ax.text(0.5, 0.5, "none", ha="center", va="center", transform=ax.transAxes)
        else:
            bins = min(40, max(5, values.nunique()))
            if log_ok and values.min() > 0 and values.max() > 100 * values.min():  # areas over decades: log axis
                bins = np.geomspace(values.min(), values.max(), bins + 1)
                ax.set_xscale("log")
            ax.hist(values, bins=bins, color="#4477aa")
            ax.yaxis.get_major_locator().set_params(integer=True)  # counts: no "1.5 images"
            ax.set_title(f"median {values.median():.4g}", fontsize=9)
        ax.set_xlabel(label)
        ax.set_ylabel(unit)
    fig.suptitle(f"{title}: {len(summary)} images, {len(objects)} objects (predicted outlines)", fontsize=12)
    save(fig, path)
