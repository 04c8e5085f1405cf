"""Data: AMASS reading and sampling, the memory-mapped motion cache, image datasets.

The cache builder is `mpt.data.prepare_amass.prepare_amass` (not re-exported: the function would shadow its module).
"""

from mpt.body.joints import GENDER_CODES
from mpt.data.amass import (
    AmassFileError,
    AmassSequence,
    find_amass_files,
    pose_change_deg,
    read_amass_sequence,
    select_frames,
)
from mpt.data.motion_cache import (
    MotionCache,
    MotionCacheError,
    load_manifest,
)

__all__ = [
    "AmassFileError",
    "AmassSequence",
    "GENDER_CODES",
    "MotionCache",
    "MotionCacheError",
    "find_amass_files",
    "load_manifest",
    "pose_change_deg",
    "read_amass_sequence",
    "select_frames",
]
