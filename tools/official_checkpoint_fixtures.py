#!/usr/bin/python3
"""Fixtures for `soco import` / `soco export`: checkpoints in the official SoCo layout, and what the official
converters make of them.

Usage: /usr/bin/python3 tools/official_checkpoint_fixtures.py <SoCo checkout> [out_dir]   (default tests/fixtures/interop)

Writes (tiny models: ResNet-50 at width 4, small FPN/head/MLPs; reference modules from tools/torch_model_fixtures.py):
  official_fpn.pth      the layout main_pretrain.py saves: {"opt": argparse.Namespace, "model": DDP state dict with
                        "module." keys (online + target networks), "optimizer": SGD state dict, "scheduler": {...},
                        "epoch": 3}
  official_c4.pth       the same for SoCo_C4, with its unused MoCo queue / queue_ptr buffers
  official_fpn.detectron2_head.pkl, official_fpn.mmdet.pth, official_c4.detectron2_c4.pkl
                        what the official converters (converter_detectron2/*.py, converter_mmdetection/*.py of the
                        SoCo checkout given; that code is not part of this repository) write from them
  official_fpn_legacy.pth   official_fpn.pth in PyTorch's legacy non-zip format (for the error message test)
  plain_resnet.pth      a plain ResNet-18 state dict (torchvision names, width 4): another architecture
"""
import argparse
import contextlib
import importlib.util
import io
import os
import sys

import torch
import torchvision

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.argv, argv = sys.argv[:1], sys.argv  # torch_model_fixtures reads sys.argv at import
import torch_model_fixtures as R  # noqa: E402

sys.argv = argv
repo = sys.argv[1]
out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "..", "tests", "fixtures", "interop")
os.makedirs(out, exist_ok=True)
gen = torch.Generator().manual_seed(7)


def official(model, name, extra_buffers=None):
    model.copy_to_target()
    sd = {f"module.{k}": v for k, v in model.state_dict().items()}
    for k, v in (extra_buffers or {}).items():
        sd[f"module.{k}"] = v
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1, momentum=0.9)
    for p in model.parameters():
        if p.requires_grad:
            p.grad = torch.randn(p.shape, generator=gen)
    opt.step()
    args = argparse.Namespace(arch="resnet50", model=name, aug="ImageAsymBboxAwareMultiJitter1Cutout", epochs=100,
                              batch_size=128, base_lr=1.0, contrast_momentum=0.99, output_dir="./SoCo_output/x")
    return {"opt": args, "model": sd, "optimizer": opt.state_dict(),
            "scheduler": {"last_epoch": 1875, "multiplier": 100}, "epoch": 3}


fpn = R.SocoFPN(50, 4, 16, 16, 32, 64, 16)
R.randomize(fpn, gen)
ck_fpn = official(fpn, "SoCo_FPN")
torch.save(ck_fpn, os.path.join(out, "official_fpn.pth"))
torch.save(ck_fpn, os.path.join(out, "official_fpn_legacy.pth"), _use_new_zipfile_serialization=False)

c4 = R.SocoC4(50, 4, 64, 16)
R.randomize(c4, gen)
queue = torch.nn.functional.normalize(torch.randn(16, 64, generator=gen), dim=0)
torch.save(official(c4, "SoCo_C4", {"queue": queue, "queue_ptr": torch.zeros(1, dtype=torch.long)}),
           os.path.join(out, "official_c4.pth"))

torch.save(R.ResNet(18, 4).state_dict(), os.path.join(out, "plain_resnet.pth"))  # tiny: names are what matter


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(repo, path))
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


with contextlib.redirect_stdout(io.StringIO()):
    load("converter_detectron2/convert_detectron2_Head.py", "h").convert_detectron2_Head(
        os.path.join(out, "official_fpn.pth"), os.path.join(out, "official_fpn.detectron2_head.pkl"), 2, 4)
    load("converter_mmdetection/convert_mmdetection_Head.py", "m").convert_mmdetection_Head(
        os.path.join(out, "official_fpn.pth"), os.path.join(out, "official_fpn.mmdet.pth"))
    load("converter_detectron2/convert_detectron2_C4.py", "c").convert_detectron2_C4(
        os.path.join(out, "official_c4.pth"), os.path.join(out, "official_c4.detectron2_c4.pkl"))
for f in sorted(os.listdir(out)):
    print(f, os.path.getsize(os.path.join(out, f)))
