"""The run report: readable episodes, a static HTML report (table, curves, tasks x stages,
trajectory viewer), and the comparison of two runs. `swejax report WORKDIR [--out DIR]`."""
