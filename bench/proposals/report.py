#!/usr/bin/env python3
"""Prints reference vs ours, per image and in total, from the JSON files of one bench run.
Usage: report.py <ref.json> <ours.json> [<ref.json> <ours.json> ...]"""
import json
import statistics
import sys

args = sys.argv[1:]
for ref_path, ours_path in zip(args[::2], args[1::2]):
    ref, ours = json.load(open(ref_path)), json.load(open(ours_path))
    print(f"\n{ref['impl']} (reference) vs {ours['impl']} (ours), search only, one thread, seconds per image")
    print(f"{'image':<16}{'reference':>11}{'ours':>9}{'ratio':>8}{'boxes ref/ours':>18}")
    rs, os_ = [], []
    for name in sorted(ref["per_image"]):
        r, o = ref["per_image"][name], ours["per_image"][name]
        rs.append(r)
        os_.append(o)
        print(f"{name:<16}{r:>11.3f}{o:>9.3f}{r / o:>7.1f}x{ref['boxes'][name]:>10}/{ours['boxes'][name]}")
    print(f"{'mean':<16}{statistics.mean(rs):>11.3f}{statistics.mean(os_):>9.3f}{statistics.mean(rs) / statistics.mean(os_):>7.1f}x")
    for n, ips in ours.get("images_per_second_by_workers", {}).items():
        print(f"ours with {n} worker(s): {ips:.2f} images/s")
