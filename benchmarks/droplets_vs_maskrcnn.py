"""ISTR vs torchvision Mask R-CNN on real microscopy (../shared/data/droplets), same CPU budget.

Both models: ResNet-18-FPN, no pretrained weights, batch 2, images at 512 px, trained on train.json
for --minutes each (one after the other, so each has the whole machine), then scored on val.json
with the same COCO evaluation code. Prints one JSON line.

    python benchmarks/droplets_vs_maskrcnn.py --minutes 15 [--only istr|maskrcnn] [--maskrcnn-bf16]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, RandomSampler

from istr_core.eval.coco_eval import evaluate
from istr_core.formats.coco import load_coco
from istr_core.predict.segmenter import Segmenter
from istr_core.structures import Prediction
from istr_core.train.precision import cpu_report
from istr_core.train.recipes import default_train_config, model_config_for, train_on_coco
from istr_core.train.samples import CocoInstanceDataset, collate

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "droplets"


def build_maskrcnn(num_classes: int):
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone

    backbone = resnet_fpn_backbone(
        backbone_name="resnet18", weights=None, trainable_layers=5, norm_layer=torch.nn.BatchNorm2d
    )
    return MaskRCNN(backbone, num_classes=num_classes + 1, min_size=512, max_size=853)


class MaskRCNNSegmenter:
    """Adapter so the project's evaluate() scores torchvision's model exactly like ours."""

    def __init__(self, model, class_names):
        self.model, self.class_names = model.eval(), class_names

    @torch.inference_mode()
    def predict_batch(self, images, score_threshold=0.0, class_pairs=True):  # torchvision's are pairs
        outs = self.model([torch.from_numpy(im).permute(2, 0, 1).float() / 255 for im in images])
        return [
            [
                Prediction((m[0] > 0.5).numpy(), tuple(b.tolist()), int(label) - 1, float(s))
                for m, b, label, s in zip(o["masks"], o["boxes"], o["labels"], o["scores"], strict=True)
                if s >= score_threshold
            ]
            for o in outs
        ]


def train_maskrcnn(minutes: float, seed: int = 0, bf16: bool = False):
    """``bf16``: the forward under CPU bf16 autocast, as ISTR's cpu-small training does (the issue's
    recipe, and the default here, is fp32)."""
    torch.manual_seed(seed)
    coco = load_coco(DATA / "train.json", DATA / "images")
    ds = CocoInstanceDataset(coco, DATA / "images", max_side=512, crop_prob=0.5)
    loader = DataLoader(
        ds,
        batch_size=2,
        sampler=RandomSampler(ds),
        collate_fn=collate,
        num_workers=1,
        persistent_workers=True,
    )
    model = build_maskrcnn(len(coco.class_names)).train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=1e-4)
    start, it = time.monotonic(), 0
    budget = minutes * 60
    while time.monotonic() - start < budget:
        for images, targets in loader:
            elapsed = time.monotonic() - start
            if elapsed >= budget:
                break
            frac = elapsed / budget
            factor = min(1.0, 0.001 + it / 100) * (0.1 if frac > 0.8 else 1.0)
            for g in opt.param_groups:
                g["lr"] = 0.01 * factor
            targets = [{"boxes": t["boxes"], "labels": t["labels"] + 1, "masks": t["masks"]} for t in targets]
            keep = [len(t["boxes"]) > 0 for t in targets]
            if not any(keep):
                continue
            with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
                losses = model(
                    [im for im, k in zip(images, keep, strict=True) if k],
                    [t for t, k in zip(targets, keep, strict=True) if k],
                )
            loss = sum(losses.values())
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 10.0)
            opt.step()
            it += 1
            if it % 50 == 0:
                print(f"maskrcnn it {it} loss {loss.item():.3f} {elapsed / 60:.1f} min", flush=True)
    return MaskRCNNSegmenter(model, coco.class_names), it


def run_istr(
    minutes: float, out: Path, seed: int = 0, options: dict | None = None, train_options: dict | None = None
):
    import dataclasses

    coco = load_coco(DATA / "train.json", DATA / "images")
    tc = dataclasses.replace(
        default_train_config("cpu-small"),
        iterations=10**9,
        time_budget_s=minutes * 60,
        seed=seed,
        log_every=50,
        **(train_options or {}),
    )

    def progress(p):
        if p.done % 50 == 0:
            print(f"istr it {p.done} loss {p.losses['loss']:.3f} {p.elapsed_s / 60:.1f} min", flush=True)

    result = train_on_coco(
        DATA / "train.json",
        DATA / "images",
        out,
        model_config=model_config_for(coco, "cpu-small", **(options or {})),
        train_config=tc,
        device="cpu",
        progress=progress,
    )
    return Segmenter.from_checkpoint(out, "cpu"), result.iterations


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=15.0)
    ap.add_argument("--only", choices=["istr", "maskrcnn"])
    ap.add_argument("--out", type=Path, default=Path("bench_out/droplets_istr.pt"))
    ap.add_argument(
        "--maskrcnn-bf16", action="store_true", help="train Mask R-CNN under CPU bf16 autocast too"
    )
    ap.add_argument(
        "--istr-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a cpu-small model option, e.g. mask_pooler_size=14 (repeatable)",
    )
    ap.add_argument(
        "--istr-train-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a cpu-small training option, e.g. lr=4e-4 (repeatable)",
    )
    args = ap.parse_args()
    options = {k: json.loads(v) for k, v in (o.split("=", 1) for o in args.istr_option)}
    train_options = {k: json.loads(v) for k, v in (o.split("=", 1) for o in args.istr_train_option)}
    val = load_coco(DATA / "val.json", DATA / "images")
    report = {
        "benchmark": "droplets_vs_maskrcnn",
        "minutes_each": args.minutes,
        "threads": torch.get_num_threads(),
        "cpu": cpu_report(),  # the ISA, and whether bf16 autocast ran
        "machine": platform.processor() or platform.machine(),
        "date": time.strftime("%Y-%m-%d"),
    }
    if args.only in (None, "maskrcnn"):
        seg, iters = train_maskrcnn(args.minutes, bf16=args.maskrcnn_bf16)
        m = evaluate(seg, val, DATA / "images")
        report["maskrcnn"] = {
            "bf16": args.maskrcnn_bf16,
            "iterations": iters,
            "mask_AP": m["segm"]["AP"],
            "mask_AP50": m["segm"]["AP50"],
            "box_AP": m["bbox"]["AP"],
        }
    if args.only in (None, "istr"):
        seg, iters = run_istr(args.minutes, args.out, options=options, train_options=train_options)
        m = evaluate(seg, val, DATA / "images")
        report["istr"] = {
            "options": options,
            "train_options": train_options,
            "iterations": iters,
            "mask_AP": m["segm"]["AP"],
            "mask_AP50": m["segm"]["AP50"],
            "box_AP": m["bbox"]["AP"],
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
