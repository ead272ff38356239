"""Rule predict: out-of-fold masks at the original size and contour overlays."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

from snakeseg import atomic  # noqa: E402
from snakeseg.cli import logged  # noqa: E402
from snakeseg.imageio import encode_png  # noqa: E402
from snakeseg.inference import batched, iter_items, mask_png, model_input, overlay, to_labels  # noqa: E402

with logged(snakemake.log[0], "predict") as log:
    from snakeseg import tfenv
    from snakeseg.models import load_model

    cfg = snakemake.params.predict
    tfenv.configure(snakemake.threads, 0)
    model = load_model(snakemake.input.model)
    n = 0
    with atomic.atomic_dir(snakemake.output[0]) as out:
        (out / "masks").mkdir()
        (out / "overlays").mkdir()
        for batch in batched(iter_items(snakemake.input.merged), cfg["batch_size"]):
            probs = model.predict(model_input([img for _, img, _ in batch], snakemake.params.image_size), verbose=0)
            for (item, image, truth), prob in zip(batch, probs):
                pred = to_labels(prob, item["height"], item["width"], cfg["threshold"])
                stored = mask_png(pred, len(snakemake.params.classes))
                atomic.write_bytes(out / "masks" / f"{item['id']}.png", encode_png(stored, rgb=False))
                shown = overlay(image, pred, truth if cfg["overlay_truth"] else None, cfg["overlay_thickness"])
                atomic.write_bytes(out / "overlays" / f"{item['id']}.png", encode_png(shown))
                n += 1
    log.info("fold %s: %d out-of-fold predictions", snakemake.wildcards.fold, n)
