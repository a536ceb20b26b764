"""Kedro pipelines as Kubeflow Pipelines (KFP v2): one container task per node or pipeline.

``plan`` turns a Kedro pipeline into steps and checks what crosses pods, ``compiler`` writes
the KFP YAML (importing ``kfp`` lazily), ``project`` ties both to the registered pipelines and
an env's catalog for ``kedro kfp compile`` (src/cemap/cli.py).
"""
