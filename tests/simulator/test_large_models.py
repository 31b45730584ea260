"""Price-only models: published parameter counts exactly, per-sample FLOPs within 2 % of
published figures, no weights (meta device), and torch.fx costs that count a tied weight once."""

import pytest
import torch

from hwmodels import SpecError
from simulator.costs import model_cost
from simulator.models import PRICE_ONLY, build

# ResNet-50: torchvision's ResNet50_Weights.IMAGENET1K_V1 card, 25,557,032 parameters and 4.09 GMACs
# (8.18 GFLOP) at 224 x 224. BERT-base: HuggingFace BertModel (encoder + pooler), 109,482,240.
# GPT-2 small: 124,439,808 with the LM head tied to the token embedding (Radford et al. 2019).
RESNET50_PARAMS, RESNET50_FLOPS = 25_557_032, 2 * 4.089e9
BERT_BASE_PARAMS = 109_482_240
GPT2_SMALL_PARAMS = 124_439_808


def _count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def _megatron_forward_flops(s: int, layers: int, h: int, vocab: int = 0) -> float:
    """Narayanan et al., SC'21, eq. (3), one forward pass of one sequence: the transformer
    layers' 24 s l h^2 (1 + s / 6h) and the logit layer's 2 s h V."""
    return 24 * s * layers * h**2 * (1 + s / (6 * h)) + 2 * s * h * vocab


def test_published_parameter_counts():
    assert _count(build("resnet50", (3, 224, 224), 1000)) == RESNET50_PARAMS
    classes = 3
    assert _count(build("bert-base", (128,), classes)) == BERT_BASE_PARAMS + 768 * classes + classes
    assert _count(build("gpt2-small", (1024,), 50257)) == GPT2_SMALL_PARAMS


@pytest.mark.parametrize("name, shape, classes, reference", [
    ("resnet50", (3, 224, 224), 1000, RESNET50_FLOPS),
    ("bert-base", (128,), 2, _megatron_forward_flops(128, 12, 768)),
    ("gpt2-small", (1024,), 50257, _megatron_forward_flops(1024, 12, 768, 50257)),
])
def test_fx_costs_match_published_flops_and_count_each_weight_once(name, shape, classes, reference):
    model = build(name, shape, classes)
    assert all(p.device.type == "meta" for p in model.parameters())   # no weights held
    cost = model_cost(model, shape)
    assert cost.forward_flops == pytest.approx(reference, rel=0.02)
    assert cost.param_bytes == 4 * _count(model)   # GPT-2's tied embedding once, not twice


def test_shorter_context_and_wrong_inputs():
    short = model_cost(build("gpt2-small", (128,), 50257), (128,))
    assert short.forward_flops == pytest.approx(_megatron_forward_flops(128, 12, 768, 50257), rel=0.02)
    for name, shape, match in [("bert-base", (513,), "seq_len <= 512"), ("gpt2-small", (16, 16), "(seq_len,)"),
                               ("resnet50", (224, 224), "channels, height, width")]:
        with pytest.raises(SpecError, match=name):
            build(name, shape, 10)
        with pytest.raises(SpecError, match=match.replace("(", r"\(").replace(")", r"\)")):
            build(name, shape, 10)
    assert set(PRICE_ONLY) == {"resnet50", "bert-base", "gpt2-small"}
    assert build("gpt2-small", (8,), 50257).input_dtype == torch.int64
