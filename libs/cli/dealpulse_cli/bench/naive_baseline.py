"""The naive baseline the sync-scoring benchmark compares with: one FastAPI process that answers the same fields as
``POST /v1/deals/score`` — risk score, risk category, win probability and the top-3 factors by the same occlusion
method — computed with scikit-learn on every request, from the very estimator the served ONNX graph was exported
from. What a team would build first: no broker, no ONNX, no batching, no service hop.

Run as ``python -m dealpulse_cli.bench.naive_baseline ESTIMATOR MODEL_DIR PORT`` (the benchmark starts it).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import uvicorn
from fastapi import FastAPI

from dealpulse_common.deal import CanonicalDeal
from dealpulse_common.events import utcnow
from dealpulse_scorer.explain import risk_category, risk_score, top_factors
from dealpulse_scorer.model import LoadedModel


class SklearnModel:
    """The estimator behind the scorer's ONNX graph, with the artifact's features and occlusion reference."""

    def __init__(self, estimator_path: Path, model_dir: Path) -> None:
        self._estimator = joblib.load(estimator_path)
        self._artifact = LoadedModel(model_dir)  # its priors and reference row only; scikit-learn predicts
        self.reference = self._artifact.reference

    def features(self, deal: CanonicalDeal) -> np.ndarray:
        return self._artifact.features(deal, utcnow())

    def predict_win(self, features: np.ndarray) -> np.ndarray:
        probabilities: np.ndarray = self._estimator.predict_proba(features)[:, 1]
        return probabilities


def create_app(model: SklearnModel) -> FastAPI:
    app = FastAPI(title="naive baseline")

    @app.post("/score")
    def score(deal: CanonicalDeal) -> dict[str, Any]:
        x = model.features(deal)
        win = float(model.predict_win(x.reshape(1, -1))[0])
        risk = risk_score(win)
        [factors] = top_factors(model, x, deals=[deal])
        return {"deal_id": deal.deal_id, "risk_score": risk, "risk_category": risk_category(risk).value,
                "win_probability": round(win, 4), "factors": [f.model_dump() for f in factors]}

    return app


def main(argv: list[str]) -> None:
    estimator, model_dir, port = Path(argv[0]), Path(argv[1]), int(argv[2])
    uvicorn.run(create_app(SklearnModel(estimator, model_dir)), host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main(sys.argv[1:])
