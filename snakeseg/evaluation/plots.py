"""Report figures (matplotlib, Agg backend)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from .. import atomic  # noqa: E402
from .compare import QUANTIZED_NAMES  # noqa: E402

CURVES = [("loss", "Loss (train.loss, all heads)"), ("iou_score", "IoU @ 0.5"), ("f1-score", "F-score @ 0.5")]


def _save(fig, path: str) -> None:
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def note(title: str, text: str, path: str) -> None:
    """A figure that says why it has nothing to show."""
    fig, ax = plt.subplots(figsize=(7, 1.6))
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=11)
    ax.axis("off")
    ax.set_title(title)
    _save(fig, path)


def training_curves(histories: dict[tuple[str, str], pd.DataFrame], path: str) -> None:
    """Loss, IoU and F-score per epoch: one row per experiment, one colour per fold,
    dashed = training batches, solid = validation."""
    experiments = list(dict.fromkeys(exp for exp, _ in histories))  # the config's order, as the comparison
    binary = any("f1-score" in h for h in histories.values())  # several classes: Keras' arg-max mean IoU alone
    curves = CURVES if binary else [CURVES[0], ("iou_score", "mean IoU over classes and background (arg-max)")]
    fig, axes = plt.subplots(len(experiments), len(curves), figsize=(5 * len(curves), 3.6 * len(experiments)),
                             squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for row, exp in zip(axes, experiments):
        folds = sorted(fold for e, fold in histories if e == exp)
        for fold, colour in zip(folds, colours * 10):
            hist = histories[(exp, fold)]
            epochs = hist["epoch"] + 1
            for ax, (key, title) in zip(row, curves):
                if key in hist:
                    ax.plot(epochs, hist[key], "--", color=colour, alpha=0.7, label=f"fold {fold} train")
                if f"val_{key}" in hist:  # with train.validation_every > 1 only some epochs have one
                    val = hist[f"val_{key}"].notna()
                    ax.plot(epochs[val], hist[f"val_{key}"][val], "-", color=colour, marker="o", ms=3,
                            label=f"fold {fold} val")
        for ax, (key, title) in zip(row, curves):
            ax.set_title(f"{exp}: {title}" if len(experiments) > 1 else title)
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no epoch 1.5 on a short run
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
    experiment when there are several; with the means and medians. With several classes, a row
    below with each class's distribution (the top one is their mean per image)."""
    classes = [c[len("dice_"):] for c in per_image.columns if c.startswith("dice_")]
    if len(classes) < 2:
        fig, ax = plt.subplots(figsize=(7, 4))
    else:
        fig = plt.figure(figsize=(max(7, 3 * len(classes)), 7), layout="constrained")
        top, bottom = fig.subfigures(2, 1, height_ratios=[4, 3])
        ax = top.subplots()
        for class_ax, name in zip(np.atleast_1d(bottom.subplots(1, len(classes), sharey=True)), classes):
            _dice_outlines(class_ax, per_image, f"dice_{name}")
            class_ax.set_title(f"class {name}", fontsize=10)
            class_ax.set_xlabel(f"Dice of {name}")
        bottom.axes[0].set_ylabel("images")
    bins = np.linspace(0, 1, 21)
    experiments = list(per_image["experiment"].unique())  # the config's order
    if len(experiments) == 1:
        folds = sorted(per_image["fold"].unique())
        ax.hist([per_image.loc[per_image["fold"] == f, "dice"] for f in folds], bins=bins, stacked=True,
                label=[f"fold {f}" for f in folds], edgecolor="white")
        mean, median = per_image["dice"].mean(), per_image["dice"].median()
        ax.axvline(mean, color="black", ls="-", label=f"mean {mean:.3f}")
        ax.axvline(median, color="black", ls=":", label=f"median {median:.3f}")
    else:
        _dice_outlines(ax, per_image, "dice")
    n = per_image.groupby("experiment").size().iloc[0]
    ax.set_xlabel("Dice (out-of-fold, original image size)" + (", mean of the classes" if len(classes) > 1 else ""))
    ax.set_ylabel("images")
    ax.set_title(f"Per-image Dice, {n} images")
    ax.legend(fontsize=8)
    _save(fig, path)


def _dice_outlines(ax, per_image: pd.DataFrame, column: str) -> None:
    """One histogram outline of ``column`` per experiment, its mean and median in the legend."""
    for exp in per_image["experiment"].unique():
        dice = per_image.loc[per_image["experiment"] == exp, column].dropna()
        ax.hist(dice, bins=np.linspace(0, 1, 21), histtype="step", lw=2,
                label=f"{exp} (mean {dice.mean():.3f}, median {dice.median():.3f})")
    ax.legend(fontsize=7)


#: Colours of the float Keras model and each TFLite variant (quantization and comparison figures; green: test set).
VARIANT_COLOURS = {"keras": "tab:blue", "dynamic_range": "tab:orange", "float16": "tab:purple", "int8": "tab:red"}


def _built_variants(table: pd.DataFrame) -> list[str]:
    """The TFLite variants the comparison table has a Dice for (those the quantize stage made)."""
    return [variant for variant, (dice, _, _) in QUANTIZED_NAMES.items()
            if variant != "keras" and dice in table and table[dice].notna().any()]


def comparison_series(table: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(column, label, colour) of each bar of :func:`comparison`: out-of-fold Dice of the float model and
    of each TFLite variant built, and the fold ensemble's test-set Dice when a test set was scored."""
    series = [("dice_mean", "float model, out-of-fold", "tab:blue")]
    series += [(f"dice_{variant}_oof", f"TFLite {variant.replace('_', ' ')}", VARIANT_COLOURS[variant])
               for variant in _built_variants(table)]
    if "test_dice_mean" in table and table["test_dice_mean"].notna().any():
        engines = sorted(set(table.get("test_engine", pd.Series(dtype=str)).dropna()) - {"keras"})
        label = "fold ensemble, test set" + (f" ({', '.join(engines)} TFLite)" if engines else "")
        series.append(("test_dice_mean", label, "tab:green"))
    return series


def comparison(per_image: pd.DataFrame, table: pd.DataFrame, path: str) -> None:
    """Experiments side by side, one row each (readable for any number of them): mean Dice as bars
    (:func:`comparison_series`) with each fold's out-of-fold mean (dots), and the size of each TFLite variant."""
    n, series = len(table), comparison_series(table)
    variants = {f"dice_{variant}_oof": variant for variant in _built_variants(table)}  # bar column: variant
    for column, variant in variants.items():  # a variant's bar: the out-of-fold Dice plus its change
        dice, change, _ = QUANTIZED_NAMES[variant]
        table = table.assign(**{column: table["dice_mean"] + table[change] if change in table else table[dice]})
    fig, (ax, ax_size) = plt.subplots(1, 2, figsize=(12, 1.2 + 0.31 * len(series) * max(n, 2)), sharey=True,
                                      gridspec_kw={"width_ratios": [3, 1]})
    y = np.arange(n)[::-1]  # first experiment at the top
    height = 0.8 / len(series)
    offsets = [0.4 - height * (k + 0.5) for k in range(len(series))]  # first series on top
    for (column, label, colour), offset in zip(series, offsets):
        ax.barh(y + offset, table[column], height, label=label, color=colour)
        for yy, value in zip(y, table[column]):
            if pd.notna(value):
                ax.annotate(f"{value:.3f}", (1.01, yy + offset), xycoords=("axes fraction", "data"), va="center",
                            fontsize=8, color=colour)
    for i, exp in enumerate(table["experiment"]):
        folds = per_image[per_image["experiment"] == exp].groupby("fold")["dice"].mean()
        ax.scatter(folds, np.full(len(folds), y[i] + offsets[0]), color="black", s=14, zorder=3,
                   label="fold means, out-of-fold" if i == 0 else None)
    ax.set_yticks(y, [f"{e} ({a})" if a != e else e for e, a in zip(table["experiment"], table["arch"])])
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlabel("mean Dice per image" + (" (TFLite: the float model's plus the variant's change)"
                                           if variants else ""))
    ncol = min(len(series) + 1, 4)
    pad = 12 + 12 * -(-(len(series) + 1) // ncol)  # room for the legend's rows above the axes
    ax.set_title("Dice per experiment", pad=pad)
    ax.legend(fontsize=8, ncol=ncol, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    ax.grid(axis="x", alpha=0.3)
    if not variants:
        ax_size.text(0.5, 0.5, "no TFLite model\n(quantize.variants)", ha="center", va="center",
                     transform=ax_size.transAxes, fontsize=9, color="grey")
    largest = 1e-3
    for (column, _, colour), offset in zip(series, offsets):  # each variant's size beside its Dice bar
        if column not in variants:
            continue
        sizes = table.get(QUANTIZED_NAMES[variants[column]][2], pd.Series(np.nan, index=table.index))
        ax_size.barh(y + offset, sizes, height, color=colour)
        for yy, mb in zip(y, sizes):
            if pd.notna(mb):
                ax_size.annotate(f" {mb:.2f} MB" if mb >= 0.1 else f" {mb * 1000:.0f} kB", (mb, yy + offset),
                                 va="center", fontsize=8)
        largest = max(largest, float(np.nan_to_num(sizes.max())))
    ax_size.set_xlim(0, largest * 1.45)
    ax_size.set_xlabel("TFLite size (MB)")
    ax_size.set_title("Model size", pad=pad)
    fig.subplots_adjust(wspace=0.25)
    _save(fig, path)


def _variant_means(summary: pd.DataFrame) -> pd.DataFrame:
    """Per experiment and model: mean size (MB), Dice loss (float minus variant, weighted by the
    folds' images), largest per-image |difference|, images/s, latency; failed if any fold failed."""
    rows = []
    for (exp, variant), group in summary.groupby(["experiment", "variant"], sort=False):
        ok = group[group["status"] == "ok"]
        weights = ok["n_images"].clip(lower=1)
        failed = group.loc[group["status"] != "ok", "error"].astype(str)
        rows.append({"experiment": exp, "variant": variant, "failed": failed.iloc[0] if len(failed) else "",
                     "mb": ok["bytes"].mean() / 1e6, "ratio": ok["size_ratio"].mean(),
                     "loss": -float((ok["dice_diff"] * weights).sum() / weights.sum()) if len(ok) else np.nan,
                     "worst": ok["dice_max_abs_diff"].max(), "img_s": ok["images_per_s"].mean(),
                     "ms": ok["latency_ms_nthreads"].mean(), "ms1": ok["latency_ms_1thread"].mean(),
                     "threads": int(group["threads"].iloc[0])})
    return pd.DataFrame(rows)


def quantization(summary: pd.DataFrame, path: str) -> None:
    """The float Keras model and its TFLite variants side by side (one bar per
    experiment and model): file size, Dice lost on the out-of-fold images (bar: mean, dot: largest
    per-image difference) and images per second at the job's threads, with the latency of one patch."""
    table = _variant_means(summary)
    n, many = len(table), table["experiment"].nunique() > 1
    fig, axes = plt.subplots(1, 3, figsize=(15, 1.6 + 0.42 * max(n, 3)), sharey=True)
    y = np.arange(n)[::-1]
    colours = [VARIANT_COLOURS.get(v, "tab:grey") for v in table["variant"]]
    labels = [f"{e}: {v}" if many else v for e, v in zip(table["experiment"], table["variant"])]
    ax_size, ax_loss, ax_speed = axes
    ax_size.barh(y, table["mb"].fillna(0), 0.7, color=colours)
    ax_loss.barh(y, table["loss"].fillna(0), 0.7, color=colours)
    ax_loss.scatter(table["worst"].where(table["variant"] != "keras"), y, color="black", s=14, zorder=3, label="largest per-image |difference|")
    ax_speed.barh(y, table["img_s"].fillna(0), 0.7, color=colours)
    keras = table[table["variant"] == "keras"].set_index("experiment")["img_s"]
    for yy, r in zip(y, table.itertuples()):
        if r.failed:
            ax_size.annotate(f" conversion failed: {r.failed[:60]}", (0, yy), va="center", fontsize=7,
                             color="darkred")
            continue
        ax_size.annotate(f" {r.mb:.2f} MB" + ("" if r.variant == "keras" else f" ({r.ratio:.2f}x)"), (r.mb, yy),
                         va="center", fontsize=8)
        if r.variant != "keras":
            # Both numbers named: the text sits beside the dot, which is the largest difference, not the mean.
            ax_loss.annotate(f" mean {r.loss:+.4f}, largest {r.worst:.4f}", (max(r.loss, r.worst, 0), yy),
                             va="center", fontsize=8)
        speed = f" {r.img_s:.1f}/s"
        if r.variant != "keras" and r.experiment in keras and keras[r.experiment] > 0:
            speed += f" ({r.img_s / keras[r.experiment]:.1f}x)"
        ms = lambda v: f"{v:.1f}" if v < 10 else f"{v:.0f}"  # noqa: E731
        speed += f", {ms(r.ms)} ms/patch" + ("" if np.isnan(r.ms1) else f" ({ms(r.ms1)} ms at 1 thread)")
        ax_speed.annotate(speed, (r.img_s, yy), va="center", fontsize=8)
    ax_size.set_yticks(y, labels)
    ax_size.set_xlim(0, max(float(table["mb"].max()), 1e-3) * 1.6)
    ax_size.set(xlabel="file size (MB; ratio to the Keras HDF5)", title="Size")
    span = max(float(np.nanmax(np.abs(table[["loss", "worst"]].to_numpy(dtype=float)), initial=0)), 1e-3)
    ax_loss.set_xlim(min(0.0, float(table["loss"].min())) - 0.1 * span, span * 2.4)
    ax_loss.axvline(0, color="grey", lw=0.8)
    ax_loss.set(xlabel="Dice lost: float model minus variant (out-of-fold, mean)", title="Dice loss")
    ax_loss.legend(fontsize=7, loc="upper right")
    ax_speed.set_xlim(0, max(float(table["img_s"].max()), 1e-3) * 2.1)
    ax_speed.set(xlabel=f"out-of-fold images per second at {table['threads'].iloc[0]} threads (ratio to Keras)",
                 title="Speed")
    for ax in axes:
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("Float Keras model and its TFLite variants (LiteRT): Dice over every fold's out-of-fold images "
                 "(weighted by images), size and speed averaged over the folds")
    fig.tight_layout()
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


def assl_rounds(table: pd.DataFrame, path: str) -> None:
    """Active-learning rounds: training images (labelled + accepted) and the review's counts as bars,
    out-of-fold Dice on the hand-labelled images as a line."""
    fig, (ax, ax_dice) = plt.subplots(1, 2, figsize=(12, 3.8))
    x = table["round"].to_numpy()
    ax.bar(x - 0.2, table["labelled"], 0.4, label="hand-labelled", color="tab:blue")
    ax.bar(x - 0.2, table["accepted_before"], 0.4, bottom=table["labelled"], label="accepted earlier",
           color="tab:cyan")
    ax.bar(x + 0.2, table["accepted"], 0.4, label="accepted in review", color="tab:green")
    ax.bar(x + 0.2, table["rejected"], 0.4, bottom=table["accepted"], label="rejected", color="tab:red")
    ax.bar(x + 0.2, table["pending"], 0.4, bottom=table["accepted"] + table["rejected"], label="pending",
           color="lightgrey")
    ax.set(xlabel="round", ylabel="images", title="Training images (left bar) and review (right bar)", xticks=x)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the bars, never over them
    ax_dice.plot(x, table["oof_dice_labelled"], "o-")
    ax_dice.set(xlabel="round", ylabel="mean Dice", ylim=(0, 1), xticks=x,
                title="Out-of-fold Dice on the hand-labelled images")
    ax_dice.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, path)
