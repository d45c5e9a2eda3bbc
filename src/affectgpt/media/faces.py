"""Face crops for the 8 sampled frames, with OpenCV's bundled Haar cascade.

The cascade ships inside opencv-python (`cv2.data`), so face cropping needs no download. Where
no face is found the whole frame, resized, stands in, and `face_found` records that so
downstream filters and reports can tell a face crop from a fallback.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
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


@dataclass(frozen=True)
class KnownFaces:
    """The crop boxes an earlier pass found on a clip's sampled frames (the build's, carried in
    the clip manifest): valid for a decode that samples the same `frame_indices` of the same
    media, and used only then (`load_clip`)."""

    frame_indices: tuple[int, ...]
    boxes: tuple[tuple[int, int, int, int] | None, ...]


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


def crop_faces(frames: np.ndarray, size: int = 224,
               known_boxes: Sequence[tuple[int, int, int, int] | None] | None = None) -> FaceCrops:
    """Face crops [T,size,size,3] for frames [T,H,W,3] uint8 RGB (frame resized where no face).

    `known_boxes` are the crop boxes (`FaceCrops.boxes`) an earlier pass over the very same
    frames found: the cascade, the costliest part of decoding a clip, then does not run again
    and the crops are the same. A list that does not fit the frames (`fits_frames`) is refused."""
    if known_boxes is not None and not fits_frames(known_boxes, frames):
        raise ValueError(f"{len(known_boxes)} known face boxes do not fit {len(frames)} frames of shape "
                         f"{tuple(frames.shape[1:])}: each must be a square inside its frame, or None")
    crops: list[np.ndarray] = []
    found: list[bool] = []
    boxes: list[tuple[int, int, int, int] | None] = []
    for index, frame in enumerate(frames):
        height, width = frame.shape[:2]
        if known_boxes is not None:
            known = known_boxes[index]
            box = None if known is None else tuple(int(v) for v in known)
        else:
            face = detect_face(frame)
            box = None if face is None else square_crop_box(face, width, height)
        if box is None:
            crop = frame
            boxes.append(None)
        else:
            left, top, side, _ = box
            crop = frame[top:top + side, left:left + side]
            boxes.append((left, top, side, side))
        interpolation = cv2.INTER_AREA if min(crop.shape[:2]) >= size else cv2.INTER_LINEAR
        crops.append(cv2.resize(np.ascontiguousarray(crop), (size, size), interpolation=interpolation))
        found.append(box is not None)
    return FaceCrops(crops=np.stack(crops).astype(np.uint8), found=found, boxes=boxes)


def fits_frames(boxes: Sequence[Sequence[int] | None], frames: np.ndarray) -> bool:
    """Whether `boxes` can be the crop boxes of `frames`: one per frame, each a non-empty
    square (left, top, side, side) inside the frame, or None."""
    if frames.ndim != 4 or len(boxes) != len(frames):
        return False
    height, width = frames.shape[1:3]
    for box in boxes:
        if box is None:
            continue
        if len(box) != 4 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in box):
            return False
        left, top, side, side_again = (int(v) for v in box)
        if side <= 0 or side != side_again or left < 0 or top < 0 or left + side > width or top + side > height:
            return False
    return True
