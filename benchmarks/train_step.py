"""Training step time and peak memory: ISTR cpu-small and R50 (paper preset) vs torchvision Mask R-CNN.

Random 512x683 images with 8 random box-shaped instances each, batch 2, one optimizer step per
iteration. Each model runs in its own subprocess, so its peak memory is its own: the child's peak
RSS (CPU; the whole process: torch, model, optimizer state, activations) or
torch.cuda.max_memory_allocated (GPU). ``r50-all`` is the paper preset with the mask branch's
gradient for every proposal (the plain path, before); ``r50`` computes it for matched proposals only
(the default). A ``-tvroi`` suffix (``cpu-small-tvroi``, ``r50-tvroi``) pools with torchvision's
RoIAlign instead of istr_core.ops.roi_align (the CPU RoIAlign change's "before"). A ``-bf16`` suffix
(``cpu-small-bf16``, ``maskrcnn-bf16``) runs the CPU forward under bf16 autocast, as ``istr train`` does
on CPUs with native bf16 (on CUDA every model runs under bf16 autocast). A ``-nchw`` suffix before
it (``cpu-small-nchw-bf16``) feeds ISTR's backbone the plain NCHW layout instead of channels-last
(the before of that change). A ``-clgrad`` suffix (``cpu-small-clgrad``) computes the backbone's
weight gradients channels-last, as oneDNN does (the before of FastPaths.nchw_weight_grad); a
``-frozen2`` suffix freezes the stem and layer1 (TrainConfig.frozen_backbone_stages=2). Suffixes go
in the order -tvroi, -nchw, -clgrad, -frozen2, -bf16. ``cpu-small-noaux``, ``-nodn``, ``-3stages``
and ``-s384`` drop a part of the model (SHARE_VARIANTS) to measure its share of the step. Prints one
JSON line.

    python benchmarks/train_step.py [--steps 3] [--device cpu|cuda] [--models cpu-small r50-all r50 maskrcnn]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch
from torchvision.models.detection import maskrcnn_resnet50_fpn

from istr_core import build_model
from istr_core.ops.roi_align import FlatFeatures
from istr_core.train.loop import freeze_backbone_stages
from istr_core.train.precision import cpu_report


class TorchvisionPooler(torch.nn.Module):
    """torchvision's MultiScaleRoIAlign behind the head's pooler call."""

    def __init__(self, pooler):
        super().__init__()
        from torchvision.ops import MultiScaleRoIAlign

        self.pooler = MultiScaleRoIAlign(pooler.featmap_names, pooler.output_size, pooler.sampling_ratio)

    def forward(self, features, boxes, image_shapes):
        return self.pooler(
            features.source if isinstance(features, FlatFeatures) else features, boxes, image_shapes
        )


def make_batch(batch: int, h: int, w: int, device, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    images, targets = [], []
    for _ in range(batch):
        images.append(torch.rand(3, h, w, generator=g).to(device))
        x0 = torch.randint(0, w - 80, (8,), generator=g).float()
        y0 = torch.randint(0, h - 80, (8,), generator=g).float()
        boxes = torch.stack([x0, y0, x0 + 60, y0 + 60], 1)
        masks = torch.zeros(8, h, w, dtype=torch.uint8)
        for i, (a, b, c, d) in enumerate(boxes.long().tolist()):
            masks[i, b:d, a:c] = 1
        targets.append(
            {
                "boxes": boxes.to(device),
                "labels": torch.ones(8, dtype=torch.int64, device=device),
                "masks": masks.to(device),
            }
        )
    return images, targets


# cpu-small variants that change the model, to measure a part's share of the step (not its accuracy)
SHARE_VARIANTS = {
    "-noaux": {"num_aux_proposals": 0},  # no hybrid-matching auxiliary group
    "-nodn": {"num_denoising_groups": 0},  # no contrastive denoising group
    "-3stages": {"num_stages": 3},
    "-s384": {"train_min_sizes": (384,)},  # training scale 384 instead of 448-576
}


def build(name: str, device):
    name = name.removesuffix("-bf16")
    options = {}
    for suffix, changes in SHARE_VARIANTS.items():
        if name.endswith(suffix):
            name, options = name.removesuffix(suffix), changes
    frozen = name.endswith("-frozen2")
    name = name.removesuffix("-frozen2")
    clgrad = name.endswith("-clgrad")
    name = name.removesuffix("-clgrad")
    nchw = name.endswith("-nchw")
    name = name.removesuffix("-nchw")
    if name == "maskrcnn":
        return maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91).to(device).train()
    base = name.removesuffix("-tvroi")
    if base == "cpu-small":
        model = build_model(num_classes=80, backbone="resnet18", preset="cpu-small", **options)
    else:
        model = build_model(num_classes=80, backbone="resnet50")
        model.set_fast_paths(matched_mask_gradients=base != "r50-all")
    if name.endswith("-tvroi"):
        model.head.box_pooler = TorchvisionPooler(model.head.box_pooler)
        if model.head.mask_pooler is not None:
            model.head.mask_pooler = TorchvisionPooler(model.head.mask_pooler)
    if nchw:
        model.set_fast_paths(channels_last=False)
    if clgrad:
        model.set_fast_paths(nchw_weight_grad=False)
    if frozen:
        freeze_backbone_stages(model, 2)
    model.codec.fit((torch.rand(256, model.codec.mask_size, model.codec.mask_size) > 0.5).float())
    return model.to(device).train()


def step(model, optimizer, images, targets, device, cpu_bf16: bool = False) -> float:
    start = time.perf_counter()
    with torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda" or cpu_bf16):
        losses = model(images, targets)
    sum(losses.values()).backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(name: str, steps: int, batch: int, device) -> dict:
    """One model's step times and peak memory (run in a fresh process by ``main``)."""
    torch.manual_seed(0)
    images, targets = make_batch(batch, 512, 683, device)
    model = build(name, device)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    bf16 = name.endswith("-bf16")
    step(model, optimizer, images, targets, device, bf16)  # warm-up
    times = [step(model, optimizer, images, targets, device, bf16) for _ in range(steps)]
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else peak_rss_mb()
    return {
        "step_s": round(statistics.median(times), 3),
        "images_per_s": round(batch / statistics.median(times), 4),
        "peak_gpu_mem_mb" if device.type == "cuda" else "peak_rss_mb": round(peak),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--models", nargs="+", default=["cpu-small", "r50-all", "r50", "maskrcnn"])
    ap.add_argument("--child", help=argparse.SUPPRESS)  # internal: measure one model in this process
    args = ap.parse_args()
    device = torch.device(args.device)
    if args.child:
        print(json.dumps(measure(args.child, args.steps, args.batch, device)))
        return
    report = {
        "benchmark": "train_step",
        "device": args.device,
        "batch": args.batch,
        "image": "512x683",
        "threads": torch.get_num_threads(),
        "cpu": cpu_report(),  # the ISA, and whether bf16 autocast ran
        "torch": torch.__version__,
        "machine": platform.machine(),
        "date": time.strftime("%Y-%m-%d"),
        "models": {},
    }
    for name in args.models:
        cmd = [
            sys.executable,
            __file__,
            "--child",
            name,
            "--steps",
            str(args.steps),
            "--device",
            args.device,
            "--batch",
            str(args.batch),
        ]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        report["models"][name] = json.loads(out.strip().splitlines()[-1])
        print(name, report["models"][name], file=sys.stderr, flush=True)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
