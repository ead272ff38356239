"""Training images per second of the default model at one patch size, with mixed precision and XLA
on or off: one combination per process (Keras' dtype policy is global), as ``fit_fold`` compiles
the model (its optimizer, loss and metrics; ``jit_compile`` for XLA).

    .venv/bin/python bench/train_speed.py --patch 256 --mixed 1 --xla 1 [--steps 30 --batch 8]

Batches are random in-memory arrays, so the figure is the network's step rate, not the input
pipeline's (``bench/training.py`` measures that). After a warm-up epoch (tracing, XLA compilation),
``--epochs`` epochs of ``--steps`` steps are timed; the best epoch counts. Prints one JSON line:
``{"mixed": ..., "xla": ..., "patch": ..., "img_s": ..., "device": "GPU" | "CPU"}``; where XLA
cannot compile the model (as on a CPU: ``ResizeNearestNeighborGrad``), ``img_s`` is null and ``error``
names the operation, and ``fit_fold`` would train without XLA.
``bench/quality.py`` runs the four combinations when a GPU is visible.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patch", type=int, default=256)
    ap.add_argument("--mixed", type=int, choices=(0, 1), default=1)
    ap.add_argument("--xla", type=int, choices=(0, 1), default=1)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()

    from snakeseg.tfenv import keras, tf
    from snakeseg.training.devices import configure_devices, is_xla_compile_error, xla_failure_reason
    from snakeseg.training.fit import compile_model
    from snakeseg.training.models import build_model
    from snakeseg.training.supervision import for_training

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    train_cfg = {**config["train"], "mixed_precision": bool(args.mixed), "xla": bool(args.xla)}
    configure_devices(train_cfg)
    model = build_model(config["model"], args.patch, 1)
    model, deep = for_training(model, train_cfg["deep_supervision"], 1)  # as train_fold trains it
    compile_model(model, train_cfg, 1, bool(args.xla), deep)
    rng = np.random.default_rng(0)
    n = args.batch * args.steps
    x = rng.normal(size=(n, args.patch, args.patch, 3)).astype(np.float32)
    y = (rng.random((n, args.patch, args.patch, 1)) < 0.2).astype(np.float32)
    out = {"mixed": bool(args.mixed), "xla": bool(args.xla), "patch": args.patch, "batch": args.batch,
           "device": "GPU" if tf.config.list_physical_devices("GPU") else "CPU"}
    try:
        model.fit(x, y, batch_size=args.batch, epochs=1, verbose=0)  # tracing and compilation
    except Exception as exc:  # as fit_fold, which then trains without XLA
        if not (args.xla and is_xla_compile_error(exc)):
            raise
        print(json.dumps({**out, "img_s": None, "error": f"XLA cannot compile: {xla_failure_reason(exc)}"}))
        return
    best = float("inf")
    for _ in range(args.epochs):
        start = time.perf_counter()
        model.fit(x, y, batch_size=args.batch, epochs=1, verbose=0)
        best = min(best, time.perf_counter() - start)
    keras.mixed_precision.set_global_policy("float32")
    print(json.dumps({**out, "img_s": round(n / best, 1)}))


if __name__ == "__main__":
    main()
