#!/usr/bin/python3
"""The labelme examples' instance segmentation as a COCO instances file for SoCo.NET's Mask R-CNN fine-tune test
(tests/fixtures/detection/masks/labelme_instances.json).

Source: github.com/wkentaro/labelme, examples/instance_segmentation/data_dataset_coco/annotations.json (written by
its labelme2coco.py from the polygons in data_annotated/*.json; labelme is GPL-3.0). The three photos are PASCAL VOC
2011's 2011_000003/6/25, byte-identical to samples/voc/JPEGImages (samples/LICENSES.md). Fetch the repository, then:

    git -C <labelme> show HEAD:examples/instance_segmentation/data_dataset_coco/annotations.json > annotations.json
    /usr/bin/python3 tools/labelme_instances_fixture.py annotations.json

Changes, each because pycocotools or a detector would misread the original: image and annotation ids start at 1
(COCOeval stores matches as ids, and an annotation id 0 reads as "unmatched"); the "_background_" category (id 0,
the detector's background label) and categories without an instance are dropped, the others keep labelme's ids
(VOC's order); file names lose the "JPEGImages/" prefix (the images are found with --train-images). Polygons, boxes
(pycocotools' toBbox of the polygon mask), areas and iscrowd stay exactly as labelme wrote them.
"""
import json
import os
import sys

src = sys.argv[1]
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "detection", "masks", "labelme_instances.json")
with open(src) as f:
    d = json.load(f)
used = sorted({a["category_id"] for a in d["annotations"]})
assert 0 not in used, "an instance of _background_"
images = [{"id": im["id"] + 1, "file_name": os.path.basename(im["file_name"]), "width": im["width"], "height": im["height"]}
          for im in d["images"]]
anns = [{"id": a["id"] + 1, "image_id": a["image_id"] + 1, "category_id": a["category_id"], "segmentation": a["segmentation"],
         "area": a["area"], "bbox": a["bbox"], "iscrowd": a["iscrowd"]} for a in d["annotations"]]
cats = [{"id": c["id"], "name": c["name"]} for c in d["categories"] if c["id"] in used]
with open(out, "w") as f:
    json.dump({"images": images, "annotations": anns, "categories": cats}, f)
print(f"{out}: {len(images)} images, {len(anns)} instances ({sum(len(a['segmentation']) for a in anns)} polygons), "
      f"categories {[c['name'] for c in cats]}")
