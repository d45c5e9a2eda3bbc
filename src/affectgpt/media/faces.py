"""Face crops for the 8 sampled frames, with OpenCV's bundled Haar cascade.

The cascade ships inside opencv-python (`cv2.data`), so face cropping needs no download. Where
no face is found the whole frame, resized, stands in, and `face_found` records that so
downstream filters and reports can tell a face crop from a fallback.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

CASCADE_FILE = "haarcascade_frontalface_default.xml"
# Detection runs on a copy whose longer side is at most this many pixels: the cascade's cost
# grows with area and faces in talking-head clips are large.
DETECT_MAX_SIDE = 400
# Context kept around the detected box (fraction of the box side on each side): the cascade box
# is tight on the inner face; expressions also live in the forehead and chin.
FACE_MARGIN = 0.2


@dataclass(frozen=True)
class FaceCrops:
    """Per-frame face crops: crops [T,S,S,3] uint8 RGB, found[t], boxes[t] = (x, y, w, h) in
    frame pixels of the square that was cropped, or None where the frame itself was used."""

    crops: np.ndarray
    found: list[bool]
    boxes: list[tuple[int, int, int, int] | None]


_per_thread = threading.local()


def _cascade() -> cv2.CascadeClassifier:
    """One classifier per thread: a CascadeClassifier keeps scratch state during detection,
    and feature extraction decodes clips in several threads."""
    cascade = getattr(_per_thread, "cascade", None)
    if cascade is None:
        path = Path(cv2.data.haarcascades) / CASCADE_FILE
        cascade = cv2.CascadeClassifier(str(path))
        if cascade.empty():
            raise RuntimeError(f"{path}: OpenCV face cascade did not load; reinstall opencv-python-headless<5")
        _per_thread.cascade = cascade
    return cascade


def detect_face(frame_rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x, y, w, h) of the most confident frontal face in full-frame pixels, or None."""
    height, width = frame_rgb.shape[:2]
    scale = min(1.0, DETECT_MAX_SIDE / max(height, width))
    gray = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2GRAY)
    if scale < 1.0:
        gray = cv2.resize(gray, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    gray = cv2.equalizeHist(gray)
    min_side = max(20, int(0.08 * min(gray.shape)))
    boxes, votes = _cascade().detectMultiScale2(gray, scaleFactor=1.1, minNeighbors=5,
                                                minSize=(min_side, min_side))
    if len(boxes) == 0:
        return None
    # The box most cascade windows agree on is the face; background clutter gathers few votes.
    best = max(range(len(boxes)), key=lambda i: (int(votes[i]), int(boxes[i][2]) * int(boxes[i][3])))
    x, y, w, h = boxes[best]
    return (round(x / scale), round(y / scale), round(w / scale), round(h / scale))


def square_crop_box(box: tuple[int, int, int, int], width: int, height: int,
                    margin: float = FACE_MARGIN) -> tuple[int, int, int, int]:
    """A square around the face box with `margin` context, shifted (not shrunk) to stay inside
    the frame where possible, so crops keep the face centred and undistorted."""
    x, y, w, h = box
    side = round(max(w, h) * (1 + 2 * margin))
    side = min(side, width, height)
    centre_x, centre_y = x + w / 2, y + h / 2
    left = round(centre_x - side / 2)
    top = round(centre_y - side / 2)
    left = min(max(left, 0), width - side)
    top = min(max(top, 0), height - side)
    return left, top, side, side


def crop_faces(frames: np.ndarray, size: int = 224) -> FaceCrops:
    """Face crops [T,size,size,3] for frames [T,H,W,3] uint8 RGB (frame resized where no face)."""
    crops: list[np.ndarray] = []
    found: list[bool] = []
    boxes: list[tuple[int, int, int, int] | None] = []
    for frame in frames:
        height, width = frame.shape[:2]
        face = detect_face(frame)
        if face is None:
            crop = frame
            boxes.append(None)
        else:
            left, top, side, _ = square_crop_box(face, width, height)
            crop = frame[top:top + side, left:left + side]
            boxes.append((left, top, side, side))
        interpolation = cv2.INTER_AREA if min(crop.shape[:2]) >= size else cv2.INTER_LINEAR
        crops.append(cv2.resize(np.ascontiguousarray(crop), (size, size), interpolation=interpolation))
        found.append(face is not None)
    return FaceCrops(crops=np.stack(crops).astype(np.uint8), found=found, boxes=boxes)
