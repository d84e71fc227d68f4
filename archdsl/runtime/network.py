"""The base class of generated networks: timm's model interface.

A generated network sets `classifier_name` (the dotted path of its head's classifier, the
last Linear, or None), `num_features` (the width the classifier reads) and
`pretrained_cfg`, and writes its own `forward_features` / `forward_head`; this class adds
what timm's training scripts call on top: `get_classifier`, `reset_classifier`,
`num_classes`, `default_cfg`.
"""

from __future__ import annotations

from torch import nn


class Network(nn.Module):
    """A network with timm's model interface (see the module docstring)."""

    classifier_name: str | None = None
    num_features: int = 0
    pretrained_cfg: dict

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
        """A new classifier for `num_classes` (0: none, the head returns its features)."""
        old = self.get_classifier()
        new = (
            nn.Linear(self.num_features, num_classes)
            if num_classes > 0
            else nn.Identity()
        )
        if isinstance(old, nn.Linear):
            new = new.to(device=old.weight.device, dtype=old.weight.dtype)
        self.set_submodule(self.classifier_name, new)
        self.pretrained_cfg["num_classes"] = num_classes
