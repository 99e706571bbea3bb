#!/usr/bin/env python3
"""Runs detectron2's tools/train_net.py with the one piece SoCo's C4 recipe adds: the ROI head
"Res5ROIHeadsExtraNorm" (res5, then one extra norm layer of the configured type, freshly initialised), registered
before training starts. Usage is train_net.py's: python soco_detectron2.py --config-file SoCo_C4_1x.yaml ...
Needs detectron2 installed and its tools/ folder on the path (run from the detectron2 checkout)."""
import os
import sys

from detectron2.layers import get_norm
from detectron2.modeling.roi_heads import ROI_HEADS_REGISTRY, Res5ROIHeads


@ROI_HEADS_REGISTRY.register()
class Res5ROIHeadsExtraNorm(Res5ROIHeads):
    """Res5ROIHeads with a norm layer after res5 (SoCo / MoCo detection recipe)."""

    @classmethod
    def _build_res5_block(cls, cfg):
        seq, out_channels = super()._build_res5_block(cfg)
        norm = get_norm(cfg.MODEL.RESNETS.NORM, out_channels)
        seq.add_module("norm", norm)
        return seq, out_channels


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.getcwd(), "tools"))
    import train_net  # detectron2's own training script

    args = train_net.default_argument_parser().parse_args()
    train_net.launch(train_net.main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
                     dist_url=args.dist_url, args=(args,))
