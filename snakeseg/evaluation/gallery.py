"""Report figures of example overlays (worst and best Dice) and of predicted object counts."""

from __future__ import annotations

import os
from typing import Callable

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .. import atomic  # noqa: E402

MAX_SIDE = 512  # overlays larger than this are downscaled for the figure only


def save(fig, path: str) -> None:
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def _has(row: pd.Series, key: str) -> bool:
    return key in row.index and pd.notna(row[key])


def pick_gallery(per_image: pd.DataFrame, n: int, by: str = "dice") -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``n`` rows of lowest ``by`` (lowest first) and the ``n`` highest (highest first).

    Rows without a value are left out; ties count the smaller id as lower. With fewer than
    ``2n`` images the lowest half are the worst and the rest the best, never one image twice.
    """
    scored = per_image[per_image[by].notna()].copy()
    scored["_id"] = scored["id"].astype(str)
    scored = scored.sort_values([by, "_id"], kind="mergesort").drop(columns="_id")
    k = n if len(scored) >= 2 * n else len(scored) // 2
    worst = scored.iloc[:k]
    best = scored.iloc[k:].iloc[::-1].iloc[:n]  # from the top of the same order: disjoint even with ties
    return worst, best


def load_overlay(path: str) -> np.ndarray:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"overlay not found: {path}")
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"overlay could not be read as an image: {path}")
    scale = MAX_SIDE / max(image.shape[:2])
    if scale < 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    # A very thin image (8 x 3000 px) would be a line of a pixel: its short side stretched to 1/8 of the long.
    h, w = image.shape[:2]
    short = max(h, w) // 8
    if min(h, w) < short:
        image = cv2.resize(image, (max(w, short), max(h, short)), interpolation=cv2.INTER_NEAREST)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def short_id(image_id, width: int) -> str:
    """``image_id`` in at most ``width`` characters, its start and end kept (Carvana's view number,
    a plate's well) around an ellipsis."""
    text = str(image_id)
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return f"{text[:head]}\u2026{text[len(text) - (width - 1 - head):]}"


def _caption(row: pd.Series) -> str:
    lines = [f"{short_id(row['id'], 13)}  Dice {row['dice']:.3f}"]
    extra = []
    if _has(row, "map"):
        extra.append(f"mAP {row['map']:.3f}")
    if _has(row, "n_true") and _has(row, "n_pred"):
        extra.append(f"{int(row['n_true'])} true / {int(row['n_pred'])} pred")
    if extra:
        lines.append(", ".join(extra))
    return "\n".join(lines)


#: The overlays' colours of classes 1, 2, 3, ... (snakeseg.inference.overlay.PRED_COLOURS), in words.
COLOUR_NAMES = ["yellow", "magenta", "cyan", "orange", "lilac"]


def _prediction_colours(per_image_by_exp: dict[str, pd.DataFrame]) -> str:
    """The legend of the prediction's contours: one colour, or each class's (from the dice_<class> columns)."""
    columns = next(iter(per_image_by_exp.values())).columns if per_image_by_exp else []
    classes = [c[len("dice_"):] for c in columns if c.startswith("dice_")]
    if len(classes) < 2:
        return "yellow: prediction"
    return "prediction: " + ", ".join(f"{name} {COLOUR_NAMES[k % len(COLOUR_NAMES)]}" for k, name in enumerate(classes))


def gallery(per_image_by_exp: dict[str, pd.DataFrame], overlay_path: Callable[[str, pd.Series], str],
            n: int, path: str, images: str = "Out-of-fold") -> None:
    """Overlays of ``images`` (out-of-fold or test-set): per experiment a row of its ``n`` lowest-Dice
    images, then a row of its ``n`` highest; each captioned with id, Dice and (instance data) mAP and counts."""
    rows = []
    for exp, per_image in per_image_by_exp.items():
        worst, best = pick_gallery(per_image, n)
        # load first, so that a missing overlay fails before any drawing
        rows += [(f"{exp}: {label}", [(r, load_overlay(overlay_path(exp, r))) for _, r in picked.iterrows()])
                 for label, picked in (("lowest Dice", worst), ("highest Dice", best)) if len(picked)]
    title = f"{images} overlays, lowest and highest Dice per experiment\ngreen: truth; {_prediction_colours(per_image_by_exp)}"
    if not rows:
        fig, ax = plt.subplots(figsize=(6, 2))
        ax.text(0.5, 0.5, "no scored images", ha="center", va="center", fontsize=12)
        ax.axis("off")
        fig.suptitle(title)
        save(fig, path)
        return
    fig = plt.figure(figsize=(max(2.6 * n, 4.5), 3.1 * len(rows)), layout="constrained")
    draw_overlay_rows(np.atleast_1d(fig.subfigures(len(rows), 1)), rows, n, _caption)
    fig.suptitle(title, fontsize=12)
    save(fig, path)


def draw_overlay_rows(subfigures, rows: list, n: int, caption: Callable[[pd.Series], str]) -> None:
    """One subfigure per ``(label, [(row, overlay), ...])`` of ``rows``: the label, then up to ``n``
    overlays, each titled ``caption(row)``."""
    for sub, (label, panels) in zip(subfigures, rows):
        sub.suptitle(label, x=0.01, ha="left", fontsize=10, fontweight="bold")
        for ax, panel in zip(sub.subplots(1, n, squeeze=False)[0], panels + [None] * n):
            ax.axis("off")
            if panel is not None:
                ax.imshow(panel[1])
                ax.set_title(caption(panel[0]), fontsize=8)


def object_counts(per_image: pd.DataFrame, path: str) -> None:
    """True against predicted number of objects per image, one colour per experiment, with the
    mean absolute count error of each; a note instead when the data has no instance masks."""
    columns = {"n_true", "n_pred"}
    data = per_image.dropna(subset=list(columns)) if columns <= set(per_image.columns) else per_image.iloc[:0]
    if data.empty:
        fig, ax = plt.subplots(figsize=(5, 2))
        ax.text(0.5, 0.5, "no instance masks in this data set", ha="center", va="center", fontsize=12)
        ax.axis("off")
        ax.set_title("Object counts, true vs predicted")
        save(fig, path)
        return
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    for exp, group in data.groupby("experiment", sort=False):
        mae = (group["n_pred"] - group["n_true"]).abs().mean()
        ax.scatter(group["n_true"], group["n_pred"], s=20, alpha=0.7,
                   label=f"{exp} (mean |error| {mae:.1f}, {len(group)} images)")
    counts = pd.concat([data["n_true"], data["n_pred"]]).astype(float)
    top = max(float(counts.max()), 1.0)
    if top / max(float(counts.min()), 1.0) > 100:  # over two decades: symlog keeps the zeros
        ax.set_xscale("symlog", linthresh=1)
        ax.set_yscale("symlog", linthresh=1)
        limit = top * 1.5
    else:
        limit = top * 1.05 + 0.5
    ax.plot([0, limit], [0, limit], color="grey", lw=1, ls="--", label="equal (y = x)")
    ax.set_xlim(-0.5 if ax.get_xscale() == "linear" else 0, limit)
    ax.set_ylim(-0.5 if ax.get_yscale() == "linear" else 0, limit)
    ax.set_xlabel("true objects per image")
    ax.set_ylabel("predicted objects per image")
    ax.set_title(f"Object counts, true vs predicted ({data.groupby('experiment').size().max()} images)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    save(fig, path)
