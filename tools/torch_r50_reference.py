#!/usr/bin/python3
"""torchvision's resnet50 (seeded default init, fc dropped) and its C2-C5 on a 2x3x224x224 batch.

    /usr/bin/python3 tools/torch_r50_reference.py OUT_DIR    ->  OUT_DIR/r50.pth (state dict), OUT_DIR/io.pth

io.pth: x; eval.c2..c5 (BN with running statistics); train.c2..c5 (training-mode BN, as SoCo runs it) in float32,
and train64.c2..c5, the same in float64 (the exact value both fp32 implementations approximate: with BN γ = 1 on every
residual branch, batch-statistics BN in fp32 drifts ~1e-5 from it in PyTorch itself).
Used at test time by FullSizeResNet50MatchesTorchvision (the weights are ~100 MB, so they are not committed).
"""
import copy
import os
import sys

import torch
import torchvision

torch.set_num_threads(1)
out = sys.argv[1]
torch.manual_seed(0)
net = torchvision.models.resnet50()
sd = {k: v.clone() for k, v in net.state_dict().items() if not k.startswith("fc.")}
torch.save(sd, os.path.join(out, "r50.pth"), _use_new_zipfile_serialization=True)
x = torch.randn(2, 3, 224, 224)


def pyramid(m, x):
    y = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    c2 = m.layer1(y)
    c3 = m.layer2(c2)
    c4 = m.layer3(c3)
    return [c2, c3, c4, m.layer4(c4)]


io = {"x": x}
with torch.no_grad():
    net64 = copy.deepcopy(net).double().train()
    net.eval()
    outs = {"eval": pyramid(net, x)}
    net.train()
    outs["train"] = pyramid(net, x)
    outs["train64"] = pyramid(net64, x.double())
    for mode, cs in outs.items():
        for i, c in enumerate(cs):
            io[f"{mode}.c{i + 2}"] = c.clone()
torch.save(io, os.path.join(out, "io.pth"), _use_new_zipfile_serialization=True)
print(f"torch {torch.__version__}, torchvision {torchvision.__version__}: {len(sd)} keys")
