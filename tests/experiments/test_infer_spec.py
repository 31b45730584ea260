"""Inference spec defaults that depend on the model."""

from experiments.infer_spec import parse_spec


def test_model_params_default_only_for_the_mlp():
    assert parse_spec({"model": "mlp"}).model_kwargs() == {"hidden": [128, 128]}
    assert parse_spec({"model": "resnet8"}).model_kwargs() == {}
    assert parse_spec({"model": "resnet8", "model_params": {"width": 8}}).model_kwargs() == {"width": 8}
    assert parse_spec({"model": "mlp", "model_params": {"hidden": [32]}}).model_kwargs() == {"hidden": [32]}


def test_union_fields_name_the_specific_problem():
    import pytest

    from hwmodels import SpecError

    for data, message in [({"lam_c": [0, -1]}, "spec: lam_c.1: Input should be greater than or equal to 0"),
                          ({"lam_c": -2}, "spec: lam_c: Input should be greater than or equal to 0"),
                          ({"share": "fast"}, "spec: share: Input should be 'speed' or 'equal'")]:
        with pytest.raises(SpecError) as exc:
            parse_spec(data)
        assert str(exc.value) == message
