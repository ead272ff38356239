# Stage 8: report plots, registered for `snakemake --report results/report.html`.
rule report:
    input:
        histories=expand(f"{RESULTS}/models/fold-{{fold}}/history.csv", fold=FOLDS),
        per_image=f"{RESULTS}/metrics/per_image.csv",
        quantized=f"{RESULTS}/quantized/per_image.csv",
        qa_dataset=f"{RESULTS}/qa/dataset.csv",
        qa_summary=f"{RESULTS}/qa/summary.json",
    output:
        curves=report(f"{RESULTS}/plots/training_curves.png", caption="../report/training_curves.rst",
                      category="Training"),
        dice=report(f"{RESULTS}/plots/dice_histogram.png", caption="../report/dice_histogram.rst",
                    category="Evaluation"),
        quant=report(f"{RESULTS}/plots/quantization_dice.png", caption="../report/quantization.rst",
                     category="Quantization"),
        qa=report(f"{RESULTS}/plots/dataset_qa.png", caption="../report/qa_summary.rst", category="Data QA"),
    log:
        "logs/report.log",
    conda:
        "../envs/snakeseg.yaml"
    script:
        "../scripts/report.py"
