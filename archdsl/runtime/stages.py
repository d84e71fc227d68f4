"""Stage containers of generated networks: a stage runs an optional `down` then its blocks;
the variants hold `shared` layers, two-input cells (`prev`) or side outputs (`aux:`)."""

from __future__ import annotations

import torch
from torch import nn


class Stage(nn.Module):
    """An optional downsampling step, then the stage's blocks in order."""

    def __init__(self, blocks: list[nn.Module], down: nn.Module | None = None) -> None:
        super().__init__()
        self.down = down
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.down is not None:
            x = self.down(x)
        for block in self.blocks:
            x = block(x)
        return x


class SharedRef:
    """A layer shared by every block of a stage (`shared`): the stage owns it (its weights
    are saved once, under `stages.i.shared`); a block only calls it."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)


class SharedStage(nn.Module):
    """A stage whose blocks share layers: an optional downsampling step, the `shared`
    layers (one module each, called by every block), then the blocks in order."""

    def __init__(
        self,
        blocks: list[nn.Module],
        shared: nn.Module,
        down: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.down = down
        self.shared = shared
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.down is not None:
            x = self.down(x)
        for block in self.blocks:
            x = block(x)
        return x


class CellStage(nn.Module):
    """A stage of two-input cells: each cell reads its input x and prev, the input of the
    cell before it (the first cell: its own input twice). After a cell marked in
    `keep_prev`, the next cell's prev is that cell's own prev."""

    def __init__(
        self,
        blocks: list[nn.Module],
        keep_prev: list[bool],
        down: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.down = down
        self.blocks = nn.ModuleList(blocks)
        self.keep_prev = keep_prev

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.down is not None:
            x = self.down(x)
        prev = x
        for block, keep in zip(self.blocks, self.keep_prev):
            x, prev = block(x, prev), prev if keep else x
        return x


class AuxStage(nn.Module):
    """A stage whose blocks may have side outputs (`aux:`): in training mode such a block
    returns (x, *side outputs), and the stage returns (x, *all its side outputs)."""

    def __init__(self, blocks: list[nn.Module], down: nn.Module | None = None) -> None:
        super().__init__()
        self.down = down
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        if self.down is not None:
            x = self.down(x)
        aux: list[torch.Tensor] = []
        for block in self.blocks:
            x = block(x)
            if isinstance(x, tuple):
                x, *more = x
                aux += more
        return (x, *aux) if aux else x
