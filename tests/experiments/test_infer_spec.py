"""Inference spec defaults that depend on the model."""

from experiments.infer_spec import parse_spec


def test_model_params_default_only_for_the_mlp():
    assert parse_spec({"model": "mlp"}).model_kwargs() == {"hidden": [128, 128]}
    assert parse_spec({"model": "resnet8"}).model_kwargs() == {}
    assert parse_spec({"model": "resnet8", "model_params": {"width": 8}}).model_kwargs() == {"width": 8}
    assert parse_spec({"model": "mlp", "model_params": {"hidden": [32]}}).model_kwargs() == {"hidden": [32]}
