"""Evaluation: judges, metrics, figures and the report (scoring only; never trains an embedding)."""
