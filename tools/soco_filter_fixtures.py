#!/usr/bin/env python3
"""Golden fixtures for the proposal filters, produced by SoCo's own selective_search/filters.py.

Usage: /usr/bin/python3 tools/soco_filter_fixtures.py <path to SoCo's selective_search/filters.py> <out.json>

SoCo's code is not part of this repository: point the first argument at a checkout of the official repository
(hologerry/SoCo). Random rect lists (seeded) with sizes around the thresholds go through the official filters,
the official strategy-name parsing of filter_ss_proposals_json.py and the official post step of
filter_ss_proposals_json_post_no_prop.py, reproduced here line by line as the scripts do it inline.
"""
import importlib.util
import json
import random
import sys

spec = importlib.util.spec_from_file_location("soco_filters", sys.argv[1])
F = importlib.util.module_from_spec(spec)
spec.loader.exec_module(F)


def official(strategy, regions, shape):
    # filter_ss_proposals_json.py, strategy parsing as written there
    if strategy == 'none':
        return F.filter_none(regions)
    if 'ratio' in strategy and 'size' in strategy:
        return F.filter_ratio_size(regions, shape, float(strategy[5]), float(strategy[-4:-2]) / 10, float(strategy[-2:]) / 10)
    if 'ratio' in strategy:
        return F.filter_ratio(regions, r=float(strategy[-1]))
    if 'size' in strategy:
        return F.filter_size(regions, shape, float(strategy[-2:]) / 10)
    raise NotImplementedError(strategy)


def post(rects, regions):
    # filter_ss_proposals_json_post_no_prop.py
    if len(rects) > 0:
        return rects
    r3 = F.filter_ratio(regions, r=3)
    if len(r3) > 0:
        return r3
    rn = F.filter_none(regions)
    if len(rn) > 0:
        return rn
    return rects


rng = random.Random(20211)
cases = []
for n in range(60):
    W, H = rng.randint(60, 900), rng.randint(60, 900)
    k = rng.choice([0, 1, 3, 10, 40])
    rects = []
    for _ in range(k):
        w = rng.choice([rng.randint(0, W), 31, 32, 33, int(W * 0.3), int(W * 0.8)])
        h = rng.choice([rng.randint(0, H), 31, 32, 33, w * 3, w // 3, int(H * 0.3)])
        rects.append((rng.randint(0, W - 1), rng.randint(0, H - 1), max(0, w), max(0, h)))
    regions = [{'rect': r} for r in rects]
    shape = (H, W)  # the label map's shape: h, w
    expected = {}
    for s in ['none', 'ratio2', 'ratio3', 'size01', 'size03', 'ratio3size0308', 'ratio2size0110']:
        kept = official(s, regions, shape)
        expected[s] = [list(r) for r in kept]
        expected[s + 'post'] = [list(r) for r in post(kept, regions)]
    cases.append({'width': W, 'height': H, 'rects': [list(r) for r in rects], 'expected': expected})

with open(sys.argv[2], 'w') as f:
    json.dump(cases, f, separators=(',', ':'))
print(f"wrote {len(cases)} cases to {sys.argv[2]}")
