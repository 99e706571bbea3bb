#!/usr/bin/python3
"""Fixtures of the reliability tests (tests/Soco.Tests/Reliability): files that are not checkpoints but look like one.
Reference: PyTorch's own torch.save (Debian python3-torch 1.13). Run: /usr/bin/python3 tools/reliability_fixtures.py"""
import os
import torch

torch.set_num_threads(1)
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "reliability")
os.makedirs(out, exist_ok=True)
# A bare tensor, as `torch.save(model.weight, "x.pth")` or `torch.save(features, "x.pth")` writes it.
torch.save(torch.arange(6, dtype=torch.float32).reshape(2, 3), os.path.join(out, "bare_tensor.pth"))
# A list of tensors.
torch.save([torch.zeros(2), torch.ones(2)], os.path.join(out, "tensor_list.pth"))
print("wrote", sorted(os.listdir(out)))
