"""Train any .arch model with the ConvNeXt recipe: AdamW, warm-up + cosine, label smoothing,
stochastic depth, EMA of the weights.

    # an image folder (ImageNet layout: DATA/train/CLASS/*.jpg, optional DATA/val/CLASS/*.jpg)
    python examples/train.py zoo/convnext.arch --variant tiny --data /path/to/imagenet --set drop_path=0.1
    # no data at hand: torchvision FakeData (random images), a small model, a few steps
    python examples/train.py zoo/convnext.arch --set depths=[1,1,1,1] --set dims=[16,32,64,128] \\
        --set classes=10 --input 3x32x32 --batch 16 --steps 20
    # several processes (DDP): launch with torchrun
    torchrun --nproc_per_node 2 examples/train.py zoo/resnet.arch --variant resnet50 --data /path/to/imagenet

Stochastic depth is the file's own parameter: `--set drop_path=0.1` (or whatever the file
calls it, e.g. `sd`). Defaults follow the ConvNeXt paper's ImageNet-1k recipe (lr 4e-3 at
batch 4096, scaled linearly with the global batch; weight decay 0.05; 20 warm-up epochs of
300; label smoothing 0.1; EMA decay 0.9999). Mixup, CutMix, RandAugment and random erasing
of the full recipe are left out to keep this file short.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source checkout without installing

import archdsl  # noqa: E402
from archdsl.backends.load import build_module  # noqa: E402
from archdsl.passes import SetArg  # noqa: E402
from archdsl.syntax import parse_set_arg  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Train an .arch model (ConvNeXt recipe).")
    p.add_argument("file", help="the .arch file")
    p.add_argument("--variant", "-v")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE",
                   help="override a parameter of the file, e.g. --set drop_path=0.1 --set classes=100")
    p.add_argument("--input", metavar="CxHxW", help="training input size (default: the file's input)")
    p.add_argument("--data", help="image folder: DATA/train/CLASS/* (+ DATA/val) or DATA/CLASS/*; default: FakeData")
    p.add_argument("--fake-size", type=int, default=1024, help="number of FakeData images (when --data is not given)")
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--steps", type=int, default=0, help="stop after this many optimizer steps (0: all epochs)")
    p.add_argument("--batch", type=int, default=128, help="batch size per process")
    p.add_argument("--lr", type=float, default=4e-3, help="peak learning rate at a global batch of 4096 (scaled linearly)")
    p.add_argument("--min-lr", type=float, default=1e-6)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--warmup-epochs", type=float, default=20)
    p.add_argument("--smoothing", type=float, default=0.1, help="label smoothing")
    p.add_argument("--ema", type=float, default=0.9999, help="EMA decay of the weights (0: no EMA)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--log-every", type=int, default=50, help="print a progress line every N steps")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="save the final (EMA) weights here (.pt)")
    return p.parse_args(argv)


def build_model(args):
    sets = []
    for text in args.sets:
        name, expr, span = parse_set_arg(text)
        sets.append(SetArg(name, expr, span, text))
    shape = tuple(int(v) for v in args.input.split("x")) if args.input else None
    g = archdsl.compile_graph(Path(args.file), args.variant, set_args=sets, input_shape=shape)
    return build_module(g)


def datasets(args, input_size, num_classes, mean, std):
    from torchvision import datasets as D
    from torchvision import transforms as T

    size = input_size[1:]
    if args.data is None:
        to_tensor = T.Compose([T.ToTensor(), T.Normalize(mean, std)])
        train = D.FakeData(args.fake_size, input_size, num_classes, transform=to_tensor, random_offset=0)
        val = D.FakeData(max(args.fake_size // 8, 1), input_size, num_classes, transform=to_tensor, random_offset=args.fake_size)
        return train, val
    train_tf = T.Compose([T.RandomResizedCrop(size, interpolation=T.InterpolationMode.BICUBIC), T.RandomHorizontalFlip(),
                          T.ToTensor(), T.Normalize(mean, std)])
    val_tf = T.Compose([T.Resize(int(size[0] / 0.875), interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(size),
                        T.ToTensor(), T.Normalize(mean, std)])
    root = Path(args.data)
    if (root / "train").is_dir():
        return D.ImageFolder(root / "train", train_tf), (D.ImageFolder(root / "val", val_tf) if (root / "val").is_dir() else None)
    return D.ImageFolder(root, train_tf), None


def param_groups(model, weight_decay):
    """No weight decay on biases and norm weights (every 1-d tensor), as in the ConvNeXt recipe."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def warmup_cosine(warmup_steps, total_steps, min_ratio):
    """A multiplier of the peak lr: linear warm-up from 0, then a cosine down to min_ratio."""
    def f(step):
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
    return f


@torch.no_grad()
def evaluate(model, loader, device):
    model.eval()
    correct = total = 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        correct += (model(x).argmax(1) == y).sum()
        total += y.numel()
    counts = torch.tensor([float(correct), float(total)], device=device)
    if dist.is_initialized():
        dist.all_reduce(counts)
    return (counts[0] / counts[1].clamp(min=1)).item() * 100


def main(argv=None):
    args = parse_args(argv)
    distributed = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1  # launched by torchrun
    if distributed:
        dist.init_process_group("nccl" if args.device.startswith("cuda") else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        if args.device.startswith("cuda"):
            args.device = f"cuda:{int(os.environ['LOCAL_RANK'])}"
            torch.cuda.set_device(args.device)
    else:
        rank, world = 0, 1
    log = print if rank == 0 else (lambda *a, **k: None)
    torch.manual_seed(args.seed)  # the same initial weights everywhere (DDP also broadcasts rank 0's)
    device = torch.device(args.device)

    model = build_model(args).to(device)
    cfg = model.pretrained_cfg
    train_set, val_set = datasets(args, cfg["input_size"], cfg["num_classes"], cfg["mean"], cfg["std"])
    classes = len(train_set.classes) if hasattr(train_set, "classes") and args.data else cfg["num_classes"]
    if classes != cfg["num_classes"]:
        log(f"the folder has {classes} classes: replacing the {cfg['num_classes']}-way classifier (or --set classes={classes})")
        model.reset_classifier(classes)
        model.to(device)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"{cfg['architecture']}: {n_params / 1e6:.2f}M params, input {'x'.join(map(str, cfg['input_size']))}, "
        f"{len(train_set)} training images, {world} process(es)")

    sampler = torch.utils.data.distributed.DistributedSampler(train_set, shuffle=True, seed=args.seed) if distributed else None
    loader = torch.utils.data.DataLoader(train_set, args.batch, shuffle=sampler is None, sampler=sampler, drop_last=True,
                                         num_workers=args.workers, pin_memory=device.type == "cuda",
                                         persistent_workers=args.workers > 0)
    val_loader = None
    if val_set is not None:
        val_sampler = torch.utils.data.distributed.DistributedSampler(val_set, shuffle=False) if distributed else None
        val_loader = torch.utils.data.DataLoader(val_set, args.batch, sampler=val_sampler, num_workers=args.workers)

    steps_per_epoch = len(loader)
    if steps_per_epoch == 0:
        raise SystemExit(f"fewer training images ({len(train_set)}) than one batch ({args.batch} per process)")
    total = args.epochs * steps_per_epoch if not args.steps else args.steps
    warmup = min(int(args.warmup_epochs * steps_per_epoch), total // 10 if args.steps else total)
    lr = args.lr * args.batch * world / 4096
    optimizer = torch.optim.AdamW(param_groups(model, args.weight_decay), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(max(warmup, 1), total, args.min_lr / lr))
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(args.ema), use_buffers=True) if args.ema else None

    net = torch.nn.parallel.DistributedDataParallel(model) if distributed else model
    if args.compile:
        net = torch.compile(net)

    step, start, seen = 0, time.time(), 0
    for epoch in range(args.epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
        net.train()
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = F.cross_entropy(net(x), y, label_smoothing=args.smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            if ema is not None:
                ema.update_parameters(model)
            step += 1
            seen += x.shape[0] * world
            if step % args.log_every == 0 or step == total:
                if not math.isfinite(loss.item()):
                    raise SystemExit(f"step {step}: the loss is {loss.item()}")
                rate = seen / (time.time() - start)
                log(f"epoch {epoch + 1} step {step}/{total} loss {loss.item():.4f} lr {schedule.get_last_lr()[0]:.2e} "
                    f"{rate:.1f} img/s", flush=True)
            if step >= total:
                break
        if val_loader is not None and (step >= total or epoch + 1 == args.epochs or (epoch + 1) % 10 == 0):
            top1 = evaluate(model, val_loader, device)
            ema_note = f" (EMA {evaluate(ema.module, val_loader, device):.2f}%)" if ema is not None else ""  # --ema 0: none
            log(f"epoch {epoch + 1} val top-1 {top1:.2f}%{ema_note}", flush=True)
        if step >= total:
            break

    if args.out and rank == 0:
        torch.save((ema.module if ema is not None else model).state_dict(), args.out)
        log(f"saved {args.out}")
    if distributed:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
