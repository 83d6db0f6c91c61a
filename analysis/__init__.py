"""Analysis of datavsmath sweeps: read results, build the talk's tables and figures, write a report.

Modules (none imports ray; only `report` writes files):

- `load`: experiment directory / results.parquet / talk CSV -> the tidy frame; `summarize`.
- `aggregate`: row selection and mean-over-seeds curves that the figures draw.
- `tables`: "Observations needed for > 90 % accuracy / > 98 % AUC", seed style and interpolated.
- `plots`: plotly Figures of the talk.
- `report`: the self-contained HTML report and the `datavsmath report` command's hooks.
- `status`: the text of `datavsmath status` (from `load.summarize`).
- `schema`, `tune_files`: the tidy frame's names and dtypes; raw reading of Tune's files.
"""
