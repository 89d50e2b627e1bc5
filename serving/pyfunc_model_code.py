"""What MLflow runs to load an exported bundle (MLflow's "models from code"): the model is
this script and the bundle artifact, not a pickle, so loading it runs only the code shipped
with it (:mod:`serving.mlflow_pyfunc`, :mod:`serving.bundle` and the bundle's own transforms,
after their content hashes are checked). Not imported by skewguard itself."""

from __future__ import annotations

import mlflow.models

from serving.mlflow_pyfunc import BundleModel

mlflow.models.set_model(BundleModel())
