"""One process of tests/test_ddp.py (launched by torchrun): DDP training of a small archdsl
model on CPU with the gloo backend. Every rank trains on its own fixed random batch; it
writes its losses (averaged over the ranks) and its final parameters to OUT/rank{R}.pt."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import archdsl  # noqa: E402

ARCH = Path(__file__).resolve().parents[1] / "zoo" / "convnext.arch"


def main(out: str, steps: int) -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(1234 + rank)  # different initial weights per rank: DDP must broadcast rank 0's
    model = archdsl.build(ARCH, "tiny", depths=[1, 1, 1, 1], dims=[16, 32, 64, 128], classes=10, drop_path=0.1,
                          input_shape=(3, 32, 32))
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}  # before DDP's broadcast
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    synced = {k: v.detach().clone() for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(100 + rank)  # each rank its own data
    x = torch.randn(8, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (8,), generator=g)
    opt = torch.optim.AdamW(ddp.parameters(), lr=2e-3)
    losses, local = [], []
    for _ in range(steps):
        ddp.train()
        loss = F.cross_entropy(ddp(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        local.append(loss.item())
        mean = loss.detach().clone()
        dist.all_reduce(mean)
        losses.append(mean.item() / world)
    with torch.no_grad():  # the loss on this rank's batch after training, eval mode (no drop path)
        model.eval()
        final = F.cross_entropy(model(x), y)
        dist.all_reduce(final)
    torch.save({"losses": losses, "local": local, "final": final.item() / world, "world": world, "initial": initial, "synced": synced,
                "params": {k: v.detach().clone() for k, v in model.state_dict().items()}}, Path(out) / f"rank{rank}.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
