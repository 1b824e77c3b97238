"""Evaluations of the models on real data sets, with the fixed splits of SPLITS.md."""
