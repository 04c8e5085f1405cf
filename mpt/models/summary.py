"""Parameter accounting: live parameters per top-level part of a model.

Why: METRO's transformer reports 102M parameters of which ~45M are unused BERT word embeddings and poolers
(METRO's BERT-based encoder, metro/modeling/bert/modeling_metro.py); we report only parameters that can be trained and are reached by the forward pass.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


def _scalar_of(output: object) -> Tensor:
    """Sum of every floating tensor in a (nested) model output that carries a graph, as one scalar."""
    if isinstance(output, Tensor):
        return output.float().sum() if output.is_floating_point() and output.requires_grad else torch.zeros(())
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (list, tuple)):
        return sum((_scalar_of(o) for o in output), torch.zeros(()))
    return torch.zeros(())


def parameter_table(model: nn.Module, example_input: Tensor | None = None,
                    forward: Callable[[nn.Module, Tensor], object] | None = None) -> list[tuple[str, int]]:
    """[(top-level part name, live parameter count), ..., ("total", sum)].

    Live = requires_grad, counted once even when shared (tied weights go to the first part that owns them). With
    ``example_input`` it also means reached: one training-mode forward/backward is run (``forward(model, x)``,
    default ``model(x)``) and only parameters that received a gradient count; grads and the train/eval mode are
    restored afterwards. Parameters registered directly on the root module are listed as "(root)".
    """
    reached: set[int] | None = None
    if example_input is not None:
        saved = {id(p): p.grad for p in model.parameters()}
        was_training = model.training
        try:
            for p in model.parameters():
                p.grad = None
            model.train()
            out = forward(model, example_input) if forward is not None else model(example_input)
            loss = _scalar_of(out)
            if loss.requires_grad:
                loss.backward()
            reached = {id(p) for p in model.parameters() if p.grad is not None}
        finally:
            model.train(was_training)
            for p in model.parameters():
                p.grad = saved.get(id(p))

    seen: set[int] = set()
    rows: list[tuple[str, int]] = []
    parts = [("(root)", model.named_parameters(recurse=False))]
    parts += [(name, child.named_parameters()) for name, child in model.named_children()]
    for name, params in parts:
        count = 0
        for _, p in params:
            if id(p) in seen or not p.requires_grad or (reached is not None and id(p) not in reached):
                continue
            seen.add(id(p))
            count += p.numel()
        if count or name != "(root)":
            rows.append((name, count))
    rows.append(("total", sum(c for _, c in rows)))
    return rows
