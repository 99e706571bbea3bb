#!/usr/bin/python3
"""torchvision 0.14's fasterrcnn_resnet50_fpn_v2 (Debian python3-torchvision) timed for bench/detect/run.sh;
maskrcnn_resnet50_fpn_v2 when the environment sets DETECT_BENCH_MODEL=mask (run.sh --mask).

    /usr/bin/python3 bench/detect/reference.py save  <state.pth>                        # seeded weights, written once
    /usr/bin/python3 bench/detect/reference.py infer <state.pth> <threads> <image>...    # eval, one image per call
    /usr/bin/python3 bench/detect/reference.py train <state.pth> <threads> <steps> <image> <image>   # batch 2, SGD

Every nn.Linear is routed through an equivalent 1x1 convolution (same weights, same result): Debian's torch does
matrix products on a generic reference BLAS (BLAS_INFO=generic; one 1000x12544 by 12544x1024 product takes ~45 s on
this machine), so without it the comparison would measure that BLAS rather than torchvision (bench/model does the
same). Likewise the mask predictor's ConvTranspose2d (ConvTransposeAs1x1), which that torch also runs on the BLAS. Images are decoded before the clock starts; the first call of a process is a warm-up and is not counted.
"""
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torchvision
from torchvision.io import ImageReadMode, read_image

assert torchvision.__version__.startswith("0.14"), torchvision.__version__


class ConvLinear(nn.Module):
    """nn.Linear computed as a 1x1 convolution (oneDNN), same parameters."""

    def __init__(self, lin):
        super().__init__()
        self.conv = nn.Conv2d(lin.in_features, lin.out_features, 1, bias=lin.bias is not None)
        with torch.no_grad():
            self.conv.weight.copy_(lin.weight.view(*lin.weight.shape, 1, 1))
            if lin.bias is not None:
                self.conv.bias.copy_(lin.bias)

    def forward(self, x):
        return self.conv(x.reshape(x.shape[0], -1, 1, 1)).flatten(1)


class ConvTransposeAs1x1(nn.Module):
    """ConvTranspose2d with kernel 2 = stride 2, padding 0 (the mask predictor's conv5_mask) computed as a 1x1
    convolution to out*4 channels + pixel_shuffle(2) + bias: y[n, o, 2i+a, 2j+b] = sum_c x[n, c, i, j] W[c, o, a, b]
    + bias[o] either way (the 2x2 windows do not overlap). Same parameter (the optimiser updates W itself), same
    result up to float32 summation order. Debian's torch runs ConvTranspose2d as im2col + a product on its generic
    BLAS (slow_conv_transpose2d: 11.6 s for the 100 detections' 256x14x14 input on one thread here, against 1.5 s
    for one of the head's 3x3 convolutions with 4.5x its multiply-adds), which would put that BLAS, not torchvision,
    into the mask figures."""

    def __init__(self, ct):
        super().__init__()
        assert ct.kernel_size == (2, 2) and ct.stride == (2, 2) and ct.padding == (0, 0) and ct.groups == 1, ct
        self.weight, self.bias = ct.weight, ct.bias
        self.out_channels = ct.out_channels

    def forward(self, x):
        w = self.weight.permute(1, 2, 3, 0).reshape(self.out_channels * 4, -1, 1, 1)
        y = nn.functional.pixel_shuffle(nn.functional.conv2d(x, w), 2)
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)


def route_linears(module):
    for name, child in module.named_children():
        if isinstance(child, nn.Linear):
            setattr(module, name, ConvLinear(child))
        elif isinstance(child, nn.ConvTranspose2d):
            setattr(module, name, ConvTransposeAs1x1(child))
        else:
            route_linears(child)


MASK = os.environ.get("DETECT_BENCH_MODEL", "") == "mask"
BUILD = torchvision.models.detection.maskrcnn_resnet50_fpn_v2 if MASK else torchvision.models.detection.fasterrcnn_resnet50_fpn_v2


def model_from(path):
    m = BUILD(weights=None, weights_backbone=None)
    m.load_state_dict(torch.load(path))
    route_linears(m)
    return m


def image(path):
    return read_image(path, ImageReadMode.RGB).float().div(255)


# Fixed training targets, as fractions of the image (x1, y1, x2, y2) and COCO labels: the same in ours (Program.cs).
BOXES = [[0.10, 0.15, 0.55, 0.90, 1], [0.40, 0.30, 0.95, 0.80, 18], [0.05, 0.05, 0.30, 0.35, 3]]


def targets(img):
    h, w = img.shape[1:]
    b = torch.tensor([[x1 * w, y1 * h, x2 * w, y2 * h] for x1, y1, x2, y2, _ in BOXES])
    t = {"boxes": b, "labels": torch.tensor([c for *_, c in BOXES])}
    if MASK:
        # Each instance's mask: the pixels whose centres lie inside its box (the same rule as Program.cs).
        ys = torch.arange(h).float().add(0.5).view(-1, 1)
        xs = torch.arange(w).float().add(0.5).view(1, -1)
        t["masks"] = torch.stack([((xs >= x1) & (xs < x2) & (ys >= y1) & (ys < y2)).to(torch.uint8) for x1, y1, x2, y2 in b.tolist()])
    return t


def main():
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "save":
        torch.manual_seed(0)
        m = BUILD(weights=None, weights_backbone=None)
        torch.save(m.state_dict(), path)
        return
    threads = int(sys.argv[3])
    torch.set_num_threads(threads)
    model = model_from(path)
    if mode == "infer":
        model.eval()
        files = sys.argv[4:]
        imgs = [image(f) for f in files]
        with torch.no_grad():
            model([imgs[0]])  # warm-up
            for f, im in zip(files, imgs):
                t = time.perf_counter()
                out = model([im])[0]
                dt = time.perf_counter() - t
                print(f"reference infer {f.split('/')[-1]} {im.shape[2]}x{im.shape[1]}: {dt:.3f} s, {len(out['scores'])} detections", flush=True)
    elif mode == "train":
        steps = int(sys.argv[4])
        imgs = [image(f) for f in sys.argv[5:7]]
        tg = [targets(im) for im in imgs]
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9, weight_decay=1e-4)
        times = []
        for s in range(steps + 1):
            t = time.perf_counter()
            opt.zero_grad()
            losses = model(imgs, tg)
            loss = sum(losses.values())
            loss.backward()
            opt.step()
            dt = time.perf_counter() - t
            if s > 0:
                times.append(dt)
            print(f"reference train step {s}{' (warm-up)' if s == 0 else ''}: {dt:.3f} s, loss {loss.item():.4f}", flush=True)
        print(f"reference train median {statistics.median(times):.3f} s")


if __name__ == "__main__":
    main()
