"""bf16 autocast where the hardware multiplies bf16 natively, fp32 elsewhere, and as asked when asked."""

from __future__ import annotations

import pytest
import torch

from training import loop
from training.config import OptimConfig

CPU = torch.device("cpu")


@pytest.mark.parametrize("has_bf16", [True, False])
def test_auto_follows_the_cpu(monkeypatch: pytest.MonkeyPatch, has_bf16: bool) -> None:
    monkeypatch.setattr(loop, "cpu_has_bf16", lambda: has_bf16)
    assert loop.uses_bf16(CPU, "auto") is has_bf16
    assert loop.uses_bf16(CPU, "fp32") is False
    assert loop.uses_bf16(CPU, "bf16") is True
    assert loop.uses_bf16(torch.device("cuda"), "auto") is True


def test_autocast_really_switches_the_matmul_dtype(monkeypatch: pytest.MonkeyPatch) -> None:
    a = torch.randn(4, 4)
    with loop.autocast(CPU, "bf16"):
        assert (a @ a).dtype == torch.bfloat16
    with loop.autocast(CPU, "fp32"):
        assert (a @ a).dtype == torch.float32


def test_the_recipe_field_is_validated() -> None:
    assert OptimConfig().precision == "auto"
    with pytest.raises(ValueError, match="precision"):
        OptimConfig(precision="fp16")
