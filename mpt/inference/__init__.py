"""Inference with an exported MPT model: ``mpt-infer`` on your own images, or on a detector's 2D keypoints.

Arrows run one way, down this list (a module imports only those above it):

  inputs.py     reading inputs: image files, person boxes, the entries of COCO-style JSON files, the image crop;
  keypoints.py  reading keypoint entries (a COCO keypoint results file), checked;
  maps.py       person boxes and pose maps from 2D keypoints, drawn exactly as pre-training draws them;
  predictor.py  the exported model and its body model: crops (or maps) -> pelvis-relative meshes, joints, camera;
  jobs.py       batching the people of consecutive images;
  outputs.py    writing outputs: mesh overlays (PNG), meshes (OBJ / PLY), joints as JSON;
  lift.py       front end from 2D keypoints: ``mpt-infer keypoints=<file>``;
  images.py     front end from images: ``mpt-infer images=...`` (:func:`mpt.inference.images.infer`, which hands
                ``keypoints=`` to lift.py);
  rows.py       ``mpt-eval keypoints=labels|<file>``: an image set's rows as keypoints to lift (maps.py's drawing,
                shared with lift.py; neither imports the other).

Lifting keypoints (lift.py, rows.py): pre-training feeds the model Gaussian heatmaps drawn from the 17 COCO keypoints
of a body seen by a virtual camera, so the model turns 2D keypoints into a mesh without images. maps.py draws those
heatmaps from the keypoints of any COCO-17 detector or from an image set's 2D labels, exactly as pre-training draws
them (mpt.synthesis.heatmaps.person_heatmaps: same crop convention, sigma and size, read from the export's
``input`` config), and the predictor runs the export's encoder, transformer, upsampler and camera head
(MPTModel.from_maps), skipping any pose network.
"""
