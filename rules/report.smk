# Stage 8: report plots, registered for `snakemake --report results/report.html`.
rule report:
    input:
        histories=expand(f"{RESULTS}/models/{{exp}}/fold-{{fold}}/history.csv", exp=EXPS, fold=FOLDS),
        per_image=expand(f"{RESULTS}/metrics/{{exp}}/per_image.csv", exp=EXPS),
        quantized=QUANTIZED_SUMMARIES,
        comparison=f"{RESULTS}/metrics/comparison.csv",
        qa_dataset=f"{RESULTS}/qa/dataset.csv",
        qa_summary=f"{RESULTS}/qa/summary.json",
        predictions=expand(f"{RESULTS}/predictions/{{exp}}/fold-{{fold}}", exp=EXPS, fold=FOLDS),
    output:
        curves=report(
            f"{RESULTS}/plots/training_curves.png", caption="../report/training_curves.rst", category="Training"
        ),
        dice=report(
            f"{RESULTS}/plots/dice_histogram.png", caption="../report/dice_histogram.rst", category="Evaluation"
        ),
        comparison=report(f"{RESULTS}/plots/comparison.png", caption="../report/comparison.rst", category="Comparison"),
        quant=report(
            f"{RESULTS}/plots/quantization_dice.png", caption="../report/quantization.rst", category="Quantization"
        ),
        qa=report(f"{RESULTS}/plots/dataset_qa.png", caption="../report/qa_summary.rst", category="Data QA"),
        gallery=report(f"{RESULTS}/plots/gallery.png", caption="../report/gallery.rst", category="Evaluation"),
        counts=report(
            f"{RESULTS}/plots/object_counts.png", caption="../report/object_counts.rst", category="Evaluation"
        ),
    log:
        "logs/report.log",
    conda:
        "../envs/snakeseg.yaml"
    resources:
        mem_mb=report_mem_mb,
    params:
        script=SCRIPTS / "report.py",
        gallery=config["report"]["gallery"],
    shell:
        "python {params.script:q} --histories {input.histories:q} --per-image {input.per_image:q} "
        "--quantized {input.quantized:q} --comparison {input.comparison:q} --qa-dataset {input.qa_dataset:q} "
        "--qa-summary {input.qa_summary:q} --predictions {input.predictions:q} --gallery {params.gallery} "
        "--gallery-plot {output.gallery:q} --counts {output.counts:q} --curves {output.curves:q} --dice {output.dice:q} "
        "--comparison-plot {output.comparison:q} --quant {output.quant:q} --qa {output.qa:q} --log {log:q}"
