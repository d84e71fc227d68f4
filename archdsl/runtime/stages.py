"""Stage containers of generated networks: a stage runs an optional `down` then its blocks;
the variants hold `shared` layers, two-input cells (`prev`) or side outputs (`aux:`).

With `grad_checkpointing` set (`Network.set_grad_checkpointing`), a stage recomputes each
block's activations in backward instead of keeping them (torch.utils.checkpoint, with the
random state restored, so stochastic depth and dropout draw the same masks)."""

from __future__ import annotations

import torch
from torch import nn


def checkpoint(block: nn.Module, *args: torch.Tensor) -> torch.Tensor:
    """`block(*args)`, its activations recomputed in backward rather than stored."""
    return torch.utils.checkpoint.checkpoint(block, *args, use_reentrant=False)


class Stage(nn.Module):
    """An optional downsampling step, then the stage's blocks in order."""

    grad_checkpointing: bool = False
    keep_prev: list[bool] | None = None  # two-input cells only (CellStage)

    def __init__(self, blocks: list[nn.Module], down: nn.Module | None = None) -> None:
        super().__init__()
        self.down = down
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.down is not None:
            x = self.down(x)
        if self.grad_checkpointing and torch.is_grad_enabled():
            for block in self.blocks:
                x = checkpoint(block, x)
            return x
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

    grad_checkpointing: bool = False
    keep_prev: list[bool] | None = None  # two-input cells only (CellStage)

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
        if self.grad_checkpointing and torch.is_grad_enabled():
            for block in self.blocks:
                x = checkpoint(block, x)
            return x
        for block in self.blocks:
            x = block(x)
        return x


class CellStage(nn.Module):
    """A stage of two-input cells: each cell reads its input x and prev, the input of the
    cell before it (the first cell: its own input twice). After a cell marked in
    `keep_prev`, the next cell's prev is that cell's own prev."""

    grad_checkpointing: bool = False

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
            if self.grad_checkpointing and torch.is_grad_enabled():
                y = checkpoint(block, x, prev)
            else:
                y = block(x, prev)
            x, prev = y, prev if keep else x
        return x


class AuxStage(nn.Module):
    """A stage whose blocks may have side outputs (`aux:`): in training mode such a block
    returns (x, *side outputs), and the stage returns (x, *all its side outputs)."""

    grad_checkpointing: bool = False
    keep_prev: list[bool] | None = None  # two-input cells only (CellStage)

    def __init__(self, blocks: list[nn.Module], down: nn.Module | None = None) -> None:
        super().__init__()
        self.down = down
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        if self.down is not None:
            x = self.down(x)
        aux: list[torch.Tensor] = []
        for block in self.blocks:
            if self.grad_checkpointing and torch.is_grad_enabled():
                x = checkpoint(block, x)
            else:
                x = block(x)
            if isinstance(x, tuple):
                x, *more = x
                aux += more
        return (x, *aux) if aux else x
