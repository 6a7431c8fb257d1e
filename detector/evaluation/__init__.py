"""Offline evaluation of detectors on labelled third-party data (MS cloud monitoring, Nezha, PetShop).

Why a package apart from ``detect/``: it reads files and imports pandas, scikit-learn,
statsmodels (and pyod if present), none of which the service needs at run time.

A detector is any callable ``score(timestamps, values) -> scores`` (causal, higher is
more anomalous, NaN for no data); register it in :func:`detector.evaluation.report.detectors`.
Run ``.venv/bin/python bench/eval.py [--datasets ms,nezha,petshop] [--quick]``.
"""
