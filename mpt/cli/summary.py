"""``python -m mpt.cli.summary``: live parameters per part of a configured model (mpt.models.summary)."""

from __future__ import annotations

import sys

import torch

from mpt.config import compose_config
from mpt.engine.builders import build_backbone, build_network
from mpt.models.summary import parameter_table


def main(argv: list[str] | None = None) -> None:
    """``python -m mpt.cli.summary model=mpt backbone=higherhrnet_w48 input=heatmap``: live parameters per part.

    Counts do not depend on the body model, so no data files are needed: the query templates are zeros here.
    """
    cfg = compose_config("finetune", list(sys.argv[1:] if argv is None else argv))
    model = build_network(cfg, torch.zeros(14, 3), torch.zeros(431, 3), None, build_backbone(cfg))
    channels = 3 if model.backbone is not None else model.encoder.in_channels
    size = 224 if model.backbone is not None else cfg.input.size
    rows = parameter_table(model, torch.zeros(2, channels, size, size))
    print(f"model={cfg.model.name} backbone={cfg.backbone.name} input={cfg.input.kind}@{cfg.input.size}")
    for name, count in rows:
        print(f"  {name:<12} {count:>14,d}  ({count / 1e6:.2f}M)")


if __name__ == "__main__":
    main()
