"""Workflow glue: the scripts' logging, experiments, fold data, the input link, Snakemake output."""
