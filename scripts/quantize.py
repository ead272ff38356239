"""Rule quantize: dynamic-range TFLite model and float-vs-quantized Dice on the fold's own images."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

import pandas as pd  # noqa: E402

from snakeseg import atomic, metrics  # noqa: E402
from snakeseg.cli import logged  # noqa: E402
from snakeseg.inference import batched, iter_items, model_input, to_labels  # noqa: E402

with logged(snakemake.log[0], "quantize") as log:
    from snakeseg import tfenv
    from snakeseg.models import load_model
    from snakeseg.quantize import TFLiteModel, convert_dynamic_range

    tfenv.configure(snakemake.threads, 0)
    fold, size, threshold = int(snakemake.wildcards.fold), snakemake.params.image_size, snakemake.params.threshold
    classes = snakemake.params.classes
    model = load_model(snakemake.input.model)
    content = convert_dynamic_range(model)
    atomic.write_bytes(snakemake.output.tflite, content)
    quantized = TFLiteModel(content, threads=snakemake.threads)
    rows = []
    for batch in batched(iter_items(snakemake.input.merged), 8):
        x = model_input([img for _, img, _ in batch], size)
        for (item, _, truth), p_float, p_quant in zip(batch, model.predict(x, verbose=0), quantized.predict(x)):
            h, w = item["height"], item["width"]
            rows.append({"fold": fold, "id": item["id"],
                         "dice_float": metrics.label_scores(truth, to_labels(p_float, h, w, threshold), classes)["dice"],
                         "dice_quantized": metrics.label_scores(truth, to_labels(p_quant, h, w, threshold), classes)["dice"]})
    atomic.write_csv(snakemake.output.per_image, pd.DataFrame(rows))
    log.info("fold %d: TFLite %d bytes, %d images compared", fold, len(content), len(rows))
