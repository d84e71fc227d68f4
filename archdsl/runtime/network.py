"""The base class of generated networks: timm's model interface.

A generated network sets `classifier_name` (the dotted path of its head's classifier, the
last Linear, or None), `num_features` (the width the classifier reads), `pretrained_cfg`,
`feature_info` (its feature levels, timm's list of dicts: `module`, `num_chs`, `reduction`;
token levels add `prefix_tokens` and `grid`) and `feature_norm` (the head's layers that
normalize the last map before pooling, e.g. ViT's final LayerNorm), and writes its own
`forward_features` / `forward_head`. This class adds what timm's training and detection
code calls on top: `get_classifier`, `reset_classifier`, `num_classes`, `default_cfg`,
`forward_intermediates`, `prune_intermediate_layers`, `set_grad_checkpointing` and
`group_matcher`.

The trunk is the stem, then the stages (each an optional `down`, then its blocks);
`forward_intermediates` runs it layer by layer (an `nn.Sequential` stem) and block by
block, exactly as `forward_features` does, and keeps the outputs of the requested levels.
"""

from __future__ import annotations

import torch
from torch import nn

from archdsl.runtime.layers import GlobalPool
from archdsl.runtime.stages import checkpoint


def feature_levels(*levels: tuple) -> list[dict]:
    """timm's `feature_info` dicts from (module, channels, reduction) rows; a token level's
    row adds (prefix tokens, grid rows, grid columns)."""
    out = []
    for module, chs, reduction, *tokens in levels:
        info = {"module": module, "num_chs": chs, "reduction": reduction}
        if tokens:
            info["prefix_tokens"] = tokens[0]
            info["grid"] = (tokens[1], tokens[2])
        out.append(info)
    return out


def take_indices(
    n: int, indices: int | list[int] | tuple[int, ...] | None
) -> list[int]:
    """timm's `indices`: None, all n levels; an int k, the last k; a sequence, those levels
    (negative ones counted from the end)."""
    if indices is None:
        indices = n
    if isinstance(indices, int):
        if not 0 < indices <= n:
            raise ValueError(f"last-n indices must be 1 to {n}, got {indices}")
        return list(range(n - indices, n))
    taken = []
    for i in indices:
        k = n + i if i < 0 else i
        if not 0 <= k < n:
            raise ValueError(f"feature index {i} is out of range for {n} levels")
        taken.append(k)
    if not taken:
        raise ValueError("no feature index given")
    return taken


class Network(nn.Module):
    """A network with timm's model interface (see the module docstring)."""

    classifier_name: str | None = None
    num_features: int = 0
    pretrained_cfg: dict
    feature_info: list[dict]
    feature_norm: tuple[str, ...] = ()
    grad_checkpointing: bool = False

    @property
    def default_cfg(self) -> dict:
        return self.pretrained_cfg

    def get_classifier(self) -> nn.Module:
        if self.classifier_name is None:
            raise AttributeError(
                "the network has no classifier: its head ends in no Linear"
            )
        return self.get_submodule(self.classifier_name)

    @property
    def num_classes(self) -> int:
        fc = self.get_classifier()
        return fc.out_features if isinstance(fc, nn.Linear) else 0

    def reset_classifier(
        self, num_classes: int, global_pool: str | None = None
    ) -> None:
        """A new classifier for `num_classes` (0: none, the head returns its features);
        `global_pool` "avg" or "max" switches the head's global pooling."""
        old = self.get_classifier()
        if global_pool is not None:
            pools = [m for m in self.head.modules() if isinstance(m, GlobalPool)]
            if global_pool not in ("avg", "max") or len(pools) != 1:
                raise ValueError(
                    f"reset_classifier: global_pool={global_pool!r} needs a head with "
                    "one global pooling (gap or gmp) and is 'avg' or 'max'; build the "
                    "network with global_pool= for other choices"
                )
            pools[0].kind = global_pool
        new = (
            nn.Linear(self.num_features, num_classes)
            if num_classes > 0
            else nn.Identity()
        )
        if isinstance(old, nn.Linear):
            new = new.to(device=old.weight.device, dtype=old.weight.dtype)
        self.set_submodule(self.classifier_name, new)
        self.pretrained_cfg["num_classes"] = num_classes

    # ---- training ----
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each stage block's activations in backward (torch.utils.checkpoint)
        instead of keeping them: less memory, one more forward per block."""
        self.grad_checkpointing = enable
        for stage in dict(self.named_children()).get("stages", ()):
            stage.grad_checkpointing = enable

    def group_matcher(self, coarse: bool = False) -> dict:
        """timm's parameter groups (layer-wise learning-rate decay): the stem, then each
        stage's blocks in order (coarse: each stage), the head last (unmatched)."""
        if coarse:
            return {"stem": r"^stem\.", "blocks": r"^stages\.(\d+)"}
        return {
            "stem": r"^stem\.",
            "blocks": [
                (r"^stages\.(\d+)\.(?:down|shared)\.", (0,)),
                (r"^stages\.(\d+)\.blocks\.(\d+)\.", None),
            ],
        }

    # ---- features ----
    def trunk(self, x: torch.Tensor):
        """Run the stem and stages as `forward_features` does, yielding (module name,
        value) after each layer of an nn.Sequential stem (or after the stem), after each
        stage block (`stages.i.blocks.j`) and after each stage (`stages.i`)."""
        parts = dict(self.named_children())
        stem = parts.get("stem")
        if isinstance(stem, nn.Sequential):
            for name, layer in stem.named_children():
                x = layer(x)
                yield f"stem.{name}", x
        elif stem is not None:
            x = stem(x)
            yield "stem", x
        for i, stage in enumerate(parts.get("stages", ())):
            if stage.down is not None:
                x = stage.down(x)
            keep_prev = (
                stage.keep_prev
            )  # two-input cells: which cells pass on their prev
            prev = x
            for j, block in enumerate(stage.blocks):
                args = (x,) if keep_prev is None else (x, prev)
                if self.grad_checkpointing and torch.is_grad_enabled():
                    y = checkpoint(block, *args)
                else:
                    y = block(*args)
                if isinstance(y, tuple):  # side outputs (`aux:`) in training mode
                    y = y[0]
                if keep_prev is not None:
                    prev = prev if keep_prev[j] else x
                x = y
                yield f"stages.{i}.blocks.{j}", x
            yield f"stages.{i}", x

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | list[int] | tuple[int, ...] | None = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """timm's forward_intermediates: the outputs of the feature levels `indices` (into
        `feature_info`; None: all, an int k: the last k), each an NCHW map (`output_fmt`
        "NLC": N x positions x C; token levels lose their class tokens either way), and
        the `forward_features` output, unless `intermediates_only`. `norm` applies the
        head's final norm (`feature_norm`) to the levels shaped like the last one;
        `stop_early` stops after the last level asked for (so does `intermediates_only`)."""
        if output_fmt not in ("NCHW", "NLC"):
            raise ValueError(f"output_fmt must be 'NCHW' or 'NLC', got {output_fmt!r}")
        levels = self.feature_info
        if not levels:
            raise ValueError(
                "this network has no feature levels (feature_info is empty)"
            )
        taken = take_indices(len(levels), indices)
        wanted = {levels[k]["module"]: k for k in taken}
        stop = levels[max(taken)]["module"]
        last = levels[-1]
        found = {}
        for name, value in self.trunk(x):
            k = wanted.get(name)
            if k is not None and k not in found:
                info = levels[k]
                shaped_like_last = (info["num_chs"], info["reduction"]) == (
                    last["num_chs"],
                    last["reduction"],
                )
                if norm and shaped_like_last:
                    for layer in self.feature_norm:
                        value = self.get_submodule(layer)(value)
                found[k] = as_map(value, info, output_fmt)
            x = value
            if name == stop and (stop_early or intermediates_only):
                break
        intermediates = [found[k] for k in taken]
        return intermediates if intermediates_only else (x, intermediates)

    def prune_intermediate_layers(
        self,
        indices: int | list[int] | tuple[int, ...] = 1,
        prune_norm: bool = False,
        prune_head: bool = True,
    ) -> list[int]:
        """Drop the layers after the last feature level `indices` asks for, and the head
        (keeping its `feature_norm` unless `prune_norm`): what is left serves
        `forward_intermediates`. Returns the level indices kept (timm's contract)."""
        taken = take_indices(len(self.feature_info), indices)
        path = self.feature_info[max(taken)]["module"].split(".")
        parts = dict(self.named_children())
        if path[0] == "stem":
            if len(path) == 2:
                names = [name for name, _ in self.stem.named_children()]
                self.stem = self.stem[: names.index(path[1]) + 1]
            if "stages" in parts:
                self.stages = nn.ModuleList()
        else:
            i = int(path[1])
            self.stages = self.stages[: i + 1]
            if len(path) == 4:
                stage, j = self.stages[i], int(path[3])
                stage.blocks = stage.blocks[: j + 1]
                if stage.keep_prev is not None:
                    stage.keep_prev = stage.keep_prev[: j + 1]
        if prune_head and "head" in parts:
            keep = () if prune_norm else self.feature_norm
            for name, _ in list(self.head.named_children()):
                if f"head.{name}" not in keep:
                    self.head.register_module(name, None)
            for name, _ in list(self.head.named_parameters(recurse=False)):
                self.head.register_parameter(name, None)
            self.classifier_name = None
        if prune_norm:
            self.feature_norm = ()
        return taken


def as_map(x: torch.Tensor, info: dict, output_fmt: str) -> torch.Tensor:
    """A level's output as NCHW (or NLC): token levels lose their prefix (class) tokens and
    have their patch tokens laid out on the level's grid."""
    grid = info.get("grid")
    if grid is None:
        return x if output_fmt == "NCHW" else x.flatten(2).transpose(1, 2)
    x = x[:, info["prefix_tokens"] :]
    if output_fmt == "NLC":
        return x
    return (
        x.transpose(1, 2).reshape(x.shape[0], x.shape[2], grid[0], grid[1]).contiguous()
    )
