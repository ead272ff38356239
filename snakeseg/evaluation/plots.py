"""Report figures (matplotlib, Agg backend)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .. import atomic  # noqa: E402

CURVES = [("loss", "Loss (Dice + focal)"), ("iou_score", "IoU @ 0.5"), ("f1-score", "F-score @ 0.5")]


def _save(fig, path: str) -> None:
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def training_curves(histories: dict[tuple[str, str], pd.DataFrame], path: str) -> None:
    """Loss, IoU and F-score per epoch: one row per experiment, one colour per fold,
    dashed = training batches, solid = validation."""
    experiments = sorted({exp for exp, _ in histories})
    fig, axes = plt.subplots(len(experiments), len(CURVES), figsize=(5 * len(CURVES), 3.6 * len(experiments)),
                             squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for row, exp in zip(axes, experiments):
        folds = sorted(fold for e, fold in histories if e == exp)
        for fold, colour in zip(folds, colours * 10):
            hist = histories[(exp, fold)]
            epochs = hist["epoch"] + 1
            for ax, (key, title) in zip(row, CURVES):
                if key in hist:
                    ax.plot(epochs, hist[key], "--", color=colour, alpha=0.7, label=f"fold {fold} train")
                if f"val_{key}" in hist:
                    ax.plot(epochs, hist[f"val_{key}"], "-", color=colour, marker="o", ms=3, label=f"fold {fold} val")
        for ax, (key, title) in zip(row, CURVES):
            ax.set_title(f"{exp}: {title}" if len(experiments) > 1 else title)
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            if key == "loss":
                ax.set_yscale("log")
            else:
                ax.set_ylim(0, 1)
        row[0].legend(fontsize=8)
    fig.suptitle("Training curves per fold", y=1.0 + 0.03 / len(experiments))
    fig.tight_layout()
    _save(fig, path)


def dice_histogram(per_image: pd.DataFrame, path: str) -> None:
    """Distribution of out-of-fold Dice: stacked by fold for one experiment, one outline per
    experiment when there are several; with the means and medians."""
    fig, ax = plt.subplots(figsize=(7, 4))
    bins = np.linspace(0, 1, 21)
    experiments = sorted(per_image["experiment"].unique())
    if len(experiments) == 1:
        folds = sorted(per_image["fold"].unique())
        ax.hist([per_image.loc[per_image["fold"] == f, "dice"] for f in folds], bins=bins, stacked=True,
                label=[f"fold {f}" for f in folds], edgecolor="white")
        mean, median = per_image["dice"].mean(), per_image["dice"].median()
        ax.axvline(mean, color="black", ls="-", label=f"mean {mean:.3f}")
        ax.axvline(median, color="black", ls=":", label=f"median {median:.3f}")
    else:
        for exp in experiments:
            dice = per_image.loc[per_image["experiment"] == exp, "dice"]
            ax.hist(dice, bins=bins, histtype="step", lw=2, label=f"{exp} (mean {dice.mean():.3f}, median {dice.median():.3f})")
    n = per_image.groupby("experiment").size().iloc[0]
    ax.set_xlabel("Dice (out-of-fold, original image size)")
    ax.set_ylabel("images")
    ax.set_title(f"Per-image Dice, {n} images")
    ax.legend(fontsize=8)
    _save(fig, path)


def comparison(per_image: pd.DataFrame, table: pd.DataFrame, path: str) -> None:
    """Experiments side by side, one row each (readable for any number of them): mean out-of-fold
    Dice as bars (float and quantized) with each fold's mean (dots), and the TFLite size of each."""
    n = len(table)
    fig, (ax, ax_size) = plt.subplots(1, 2, figsize=(12, 1.2 + 0.62 * max(n, 2)), sharey=True,
                                      gridspec_kw={"width_ratios": [3, 1]})
    y = np.arange(n)[::-1]  # first experiment at the top
    ax.barh(y + 0.2, table["dice_mean"], 0.4, label="float model", color="tab:blue")
    ax.barh(y - 0.2, table["dice_quantized_mean"], 0.4, label="TFLite dynamic range", color="tab:orange")
    for i, exp in enumerate(table["experiment"]):
        folds = per_image[per_image["experiment"] == exp].groupby("fold")["dice"].mean()
        ax.scatter(folds, np.full(len(folds), y[i] + 0.2), color="black", s=14, zorder=3,
                   label="fold means" if i == 0 else None)
        dice, quant = table["dice_mean"].iloc[i], table["dice_quantized_mean"].iloc[i]
        ax.annotate(f"{dice:.3f}", (1.01, y[i] + 0.2), xycoords=("axes fraction", "data"), va="center", fontsize=8)
        ax.annotate(f"{quant:.3f}", (1.01, y[i] - 0.2), xycoords=("axes fraction", "data"), va="center",
                    fontsize=8, color="tab:orange")
    ax.set_yticks(y, [f"{e} ({a})" if a != e else e for e, a in zip(table["experiment"], table["arch"])])
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlabel("mean Dice, out-of-fold (numbers: float, quantized)")
    ax.set_title("Dice per experiment", pad=24)
    ax.legend(fontsize=8, ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    ax.grid(axis="x", alpha=0.3)
    sizes = table["tflite_dynamic_mb"]
    ax_size.barh(y, sizes, 0.6, color="tab:orange")
    for yy, mb in zip(y, sizes):
        ax_size.annotate(f" {mb:.2f} MB" if mb >= 0.1 else f" {mb * 1000:.0f} kB", (mb, yy), va="center", fontsize=8)
    ax_size.set_xlim(0, max(float(sizes.max()), 1e-3) * 1.45)
    ax_size.set_xlabel("TFLite size (MB)")
    ax_size.set_title("Model size", pad=24)
    fig.subplots_adjust(wspace=0.25)
    _save(fig, path)


def quantization_scatter(per_image: pd.DataFrame, path: str) -> None:
    """Dice of the float model against the dynamic-range quantized TFLite model, per image
    (coloured by experiment when there are several, else by fold)."""
    fig, ax = plt.subplots(figsize=(5, 5))
    key = "experiment" if per_image["experiment"].nunique() > 1 else "fold"
    for value, group in per_image.groupby(key):
        ax.scatter(group["dice_float"], group["dice_quantized"], s=18, alpha=0.8,
                   label=f"fold {value}" if key == "fold" else value)
    low = min(per_image["dice_float"].min(), per_image["dice_quantized"].min())
    low = max(0.0, np.floor((low - 0.02) * 20) / 20)  # zoom on the data, to the 0.05 below it
    ax.plot([low, 1], [low, 1], color="grey", lw=1, ls="--", label="equal")
    diff = (per_image["dice_quantized"] - per_image["dice_float"]).abs().max()
    ax.set_xlim(low, 1)
    ax.set_ylim(low, 1)
    ax.set_xlabel("Dice, float Keras model")
    ax.set_ylabel("Dice, TFLite dynamic-range quantized")
    ax.set_title(f"Float vs quantized (max |diff| {diff:.4f})")
    ax.legend(fontsize=8)
    _save(fig, path)


def qa_summary(dataset: pd.DataFrame, summary: dict, path: str) -> None:
    """Dataset fingerprint: image sizes, mask coverage and the counts of everything flagged."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    sizes = dataset.groupby(["width", "height"]).size().reset_index(name="n")
    axes[0].scatter(sizes["width"], sizes["height"], s=20 + 200 * sizes["n"] / max(sizes["n"].max(), 1), alpha=0.6)
    for row in sizes.itertuples():
        axes[0].annotate(str(row.n), (row.width, row.height), ha="center", va="center", fontsize=8)
    axes[0].set_xlabel("width (px)")
    axes[0].set_ylabel("height (px)")
    axes[0].set_title(f"Image sizes ({len(dataset)} usable images)")
    axes[1].hist(dataset["coverage"], bins=np.linspace(0, max(dataset["coverage"].max(), 1e-3), 21), edgecolor="white")
    axes[1].set_xlabel("foreground fraction of the mask")
    axes[1].set_ylabel("images")
    axes[1].set_title("Mask coverage")
    counts = {"usable": summary["n_images"], "set aside": summary["n_set_aside"],
              "files ignored": summary["n_files_ignored"], "empty masks": summary["n_empty_masks"],
              "duplicate pixels": summary["n_duplicate_pixels"], "stray mask values": summary["n_masks_with_stray_values"]}
    bars = axes[2].barh(list(counts)[::-1], list(counts.values())[::-1], color="tab:gray")
    axes[2].bar_label(bars, padding=3)
    axes[2].set_title("Counts (details in results/qa/*.csv)")
    axes[2].set_xlim(0, max(counts.values()) * 1.2 + 1)
    fig.tight_layout()
    _save(fig, path)
