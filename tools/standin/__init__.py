"""The stand-in world, in the real file formats, for the licence-gated SMPL, AMASS, Human3.6M and COCO weights.

Library modules:
body_shape     the stand-in body's design: T-pose skeleton, landmark ids, implicit surface
body_mesh      its SMPL-topology mesh (marching tetrahedra, decimation, relaxation, landmark order)
body_rig       its skinning weights, joint regressors and blend shapes
body           the assembled SMPL-format body (DemoBody, build_demo_body)
motions        AMASS-format motions on that body: kinematics and the demo corpus's five actions
study_motions  the study corpus's actions and sequences
appearance     clothing and skin colours for rendering
render         rendering the rows (image and label) of a TSV image set

Commands (``python -m tools.standin.<name> --help``):
make_assets          body model files and AMASS-format motions (``--out data/demo``)
make_tsv             METRO-style TSV image sets rendered from those motions
train_pose           the stand-in pose network and its released weights
keypoints_from_tsv   keypoint files from a TSV set's labels (for ``mpt-infer keypoints=``)
show_pose_maps       a pose network's maps beside the images
keypoint_box_factor  the silhouette / keypoint box ratio the lifting front end uses
"""
