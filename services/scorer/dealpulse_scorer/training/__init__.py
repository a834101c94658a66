"""Offline model building: the synthetic CRM, the training data format, training, evaluation and the demo bootstrap.

Only ``train``, ``metrics``, ``evaluate`` and ``plots`` import scikit-learn / skl2onnx / matplotlib; ``synthetic``,
``world``, ``feed``, ``dataset``, ``split`` and ``progress`` stay serving-safe so the demo feed can use them without
the training stack (pyarrow is imported only when a Parquet file is read or written).
"""
