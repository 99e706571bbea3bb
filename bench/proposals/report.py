#!/usr/bin/env python3
"""Prints reference vs ours, per image and in total, from the JSON files of one bench run.
Usage: report.py <ref.json[,ref2.json...]> <ours.json[,ours2.json...]> [...]
Several comma-separated files of one side are rounds of the same measurement: each image gets its best (lowest) time
over the rounds, the least disturbed by other processes on a shared machine; throughputs are listed per round."""
import json
import statistics
import sys


def load(paths):
    rounds = [json.load(open(p)) for p in paths.split(",")]
    per_image = {n: min(r["per_image"][n] for r in rounds) for n in rounds[0]["per_image"]}
    return rounds, per_image


args = sys.argv[1:]
for ref_paths, ours_paths in zip(args[::2], args[1::2]):
    ref_rounds, ref = load(ref_paths)
    ours_rounds, ours = load(ours_paths)
    print(f"\n{ref_rounds[0]['impl']} (reference) vs {ours_rounds[0]['impl']} (ours), search only, one thread, "
          f"seconds per image (best of {len(ref_rounds)} / {len(ours_rounds)} alternating rounds)")
    print(f"{'image':<16}{'reference':>11}{'ours':>9}{'ratio':>8}{'boxes ref/ours':>18}")
    rs, os_, ratios = [], [], []
    for name in sorted(ref):
        r, o = ref[name], ours[name]
        rs.append(r)
        os_.append(o)
        ratios.append(r / o)
        print(f"{name:<16}{r:>11.3f}{o:>9.3f}{r / o:>7.1f}x{ref_rounds[0]['boxes'][name]:>10}/{ours_rounds[0]['boxes'][name]}")
    print(f"{'mean':<16}{statistics.mean(rs):>11.3f}{statistics.mean(os_):>9.3f}{statistics.mean(rs) / statistics.mean(os_):>7.1f}x"
          f"   (per image {min(ratios):.1f}x to {max(ratios):.1f}x)")
    for i, r in enumerate(ours_rounds, 1):
        ips = r.get("images_per_second_by_workers", {})
        line = ", ".join(f"{n} worker(s) {v:.2f} images/s" for n, v in ips.items())
        if "1" in ips and "2" in ips:
            line += f"; 1 -> 2 workers {ips['2'] / ips['1']:.2f}x"
        print(f"ours, round {i}: {line}")
        for n, g in r.get("gc_by_workers", {}).items():
            print(f"  {n} worker(s): {g['allocated_mb_per_image']:.1f} MB allocated per image, GCs gen0/1/2 "
                  f"{g['gen0']}/{g['gen1']}/{g['gen2']}, GC pauses {100 * g['gc_pause_share']:.1f} % of the time")
