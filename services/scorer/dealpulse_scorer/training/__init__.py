"""Offline model building: the synthetic CRM, the training data format, training, export and the demo bootstrap.

Only ``train`` and ``metrics`` import scikit-learn / skl2onnx; ``synthetic``, ``world``, ``feed`` and ``dataset``
stay serving-safe so the demo feed can use them without the training stack.
"""
