#!/usr/bin/env python3
"""SoCo's FPN view recipe (ImageAsymBboxAwareMultiJitter1, docs/soco-reference.md §4.12b) in Python, step by step as the spec gives it,
with PIL + torchvision transforms (the official stack), timed on one core.

Usage: /usr/bin/python3 bench/views/reference.py <images dir> <proposal json> <passes>
Prints one JSON object: {"impl": "python", "samples": n, "seconds": s, "per_second": n/s}.
Decoding (PIL open + convert('RGB')) is included, as in the official dataset's __getitem__.
"""
import json
import math
import os
import random
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchvision.transforms as T  # noqa: E402
import torchvision.transforms.functional as F  # noqa: E402
from PIL import Image, ImageFilter, ImageOps  # noqa: E402

torch.set_num_threads(1)
images_dir, proposal_json, passes = sys.argv[1], sys.argv[2], int(sys.argv[3])
props = json.load(open(proposal_json))
names = sorted(f for f in os.listdir(images_dir) if f.lower().endswith((".png", ".jpg", ".jpeg")))

AWARE = [48, 96, 192, 224]
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class Blur:
    def __call__(self, x):
        return x.filter(ImageFilter.GaussianBlur(radius=random.uniform(0.1, 2.0)))


class Solarize:
    def __call__(self, x):
        return ImageOps.solarize(x)


def post(blur_p, sol_p):
    return T.Compose([
        T.RandomApply([T.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
        T.RandomGrayscale(p=0.2),
        T.RandomApply([Blur()], p=blur_p),
        T.RandomApply([Solarize()], p=sol_p),
        T.ToTensor(), T.Normalize(MEAN, STD)])


post1, post2 = post(1.0, 0.0), post(0.1, 0.2)


def rrc(img, scale):
    i, j, h, w = T.RandomResizedCrop.get_params(img, scale=(scale, 1.0), ratio=(3 / 4, 4 / 3))
    return (i, j, h, w, img.size[1], img.size[0])


def overlap(p1, p2):
    a = [p1[1], p1[0], p1[1] + p1[3] - 1, p1[0] + p1[2] - 1]
    b = [p2[1], p2[0], p2[1] + p2[3] - 1, p2[0] + p2[2] - 1]
    if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
        return [max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])]
    return None


def select(boxes, ov, k=4):
    if ov is None:
        return np.zeros((0, 5))
    m = (ov[0] < boxes[:, 2]) & (boxes[:, 0] < ov[2]) & (ov[1] < boxes[:, 3]) & (boxes[:, 1] < ov[3])
    c = boxes[m]
    if len(c) < k:
        return c
    return c[np.random.choice(len(c), k, replace=False)]


def jitter(b, prob=0.5, r=0.1):
    b = b.copy()
    for n in range(len(b)):
        if np.random.rand() < prob:
            j = np.random.uniform(-r, r, 4)
            w, h = b[n, 2] - b[n, 0] + 1, b[n, 3] - b[n, 1] + 1
            b[n, 0] += j[0] * w
            b[n, 1] += j[1] * h
            b[n, 2] = b[n, 0] + w * (1 + j[2]) - 1
            b[n, 3] = b[n, 1] + h * (1 + j[3]) - 1
    return b


def clip(b, p):
    i, j, h, w = p[:4]
    v = [j, i, j + w - 1, i + h - 1]
    out = []
    for x in b:
        if v[0] < x[2] and x[0] < v[2] and v[1] < x[3] and x[1] < v[3]:
            out.append([max(x[0], v[0]) - j, max(x[1], v[1]) - i, min(x[2], v[2]) - j, min(x[3], v[3]) - i, x[4]])
    return np.array(out) if out else np.array([[0, 0, w - 1, h - 1, 1]], dtype=float)


def pad(b, common, k=4):
    if len(b) >= k:
        return b
    pool = b[np.isin(b[:, 4], list(common))]
    return np.concatenate([b, pool[np.random.randint(len(pool), size=k - len(b))]])


def levels_assign(b, p, size, sentinel, L=4):
    w, h = p[3], p[2]
    r = np.stack([(b[:, 0] * size / w).astype(int), (b[:, 1] * size / h).astype(int),
                  (b[:, 2] * size / w).astype(int), (b[:, 3] * size / h).astype(int)], 1)
    a = np.full(4 * L, sentinel)
    for n, x in enumerate(r):
        s = math.sqrt((x[2] - x[0] + 1) * (x[3] - x[1] + 1))
        lv = next((q for q, t in enumerate(AWARE) if s <= t), 3)
        a[lv * L + n] = b[n, 4]
    return a


def normalise(b, p):
    w, h = p[3], p[2]
    n = b.copy()
    n[:, [0, 2]] /= w
    n[:, [1, 3]] /= h
    return n


def flip(img, boxes_list):
    if random.random() < 0.5:
        img = F.hflip(img)
        for b in boxes_list:
            x1 = 1 - b[:, 2]
            b[:, 2] = 1 - b[:, 0]
            b[:, 0] = x1
    return img


def sample(path, key):
    img = Image.open(path).convert('RGB')
    W, H = img.size
    raw = props.get(key, [])
    boxes = np.array([[x, y, x + w - 1, y + h - 1] for x, y, w, h in raw], dtype=float).reshape(-1, 4)
    if len(boxes) == 0:
        boxes = np.array([[0, 0, W - 1, H - 1]], dtype=float)
    boxes = np.concatenate([boxes, np.arange(1, len(boxes) + 1)[:, None]], 1)
    p1 = (0, 0, H, W, H, W)
    lc = 2
    for _ in range(5):
        p2, p3 = rrc(img, 0.5), rrc(img, 0.5)
        s12, s13 = select(boxes, overlap(p1, p2)), select(boxes, overlap(p1, p3))
        if len(s12) >= lc and len(s13) >= lc:
            break
        lc = max(lc // 2, 1)
    out = {}
    for k, p, s, size, sent in ((2, p2, s12, 224, -2), (3, p3, s13, 112, -3)):
        b1 = clip(jitter(s), p1)
        bk = clip(s, p)
        common = set(b1[:, 4]) & set(bk[:, 4])
        b1, bk = pad(b1, common), pad(bk, common)
        a1, ak = levels_assign(b1, p1, 224, -1), levels_assign(bk, p, size, sent)
        out[k] = (normalise(b1, p1), normalise(bk, p), torch.tensor((a1[:, None] == ak[None, :]).astype(np.float32)))
    img1 = img.resize((224, 224), Image.BILINEAR)
    img2 = F.resized_crop(img, p2[0], p2[1], p2[2], p2[3], [224, 224])
    img3 = F.resized_crop(img, p3[0], p3[1], p3[2], p3[3], [112, 112])
    img1 = flip(img1, [out[2][0], out[3][0]])
    img2 = flip(img2, [out[2][1]])
    img3 = flip(img3, [out[3][1]])
    t1, t2, t3 = post1(img1), post2(img2), post2(img3)
    bt = [torch.tensor(x, dtype=torch.float32) for x in (out[2][0], out[3][0], out[2][1], out[3][1])]
    return t1, t2, t3, *bt, out[2][2], out[3][2]


random.seed(0)
np.random.seed(0)
torch.manual_seed(0)
for n in names:  # warm-up: one pass, as the .NET side does
    sample(os.path.join(images_dir, n), n.split('.')[0])
t0 = time.perf_counter()
count = 0
for _ in range(passes):
    for n in names:
        r = sample(os.path.join(images_dir, n), n.split('.')[0])
        assert r[0].shape == (3, 224, 224) and r[2].shape == (3, 112, 112) and r[7].shape == (16, 16)
        count += 1
dt = time.perf_counter() - t0
print(json.dumps({"impl": "python", "samples": count, "seconds": dt, "per_second": count / dt}))
