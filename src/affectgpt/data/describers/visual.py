"""Visual describer: the pretrained face-emotion classifier (fer's FER2013 CNN) over the sampled
face crops, plus expression cues measured on the frames (smiles, head motion), put into words."""

from __future__ import annotations

from affectgpt.data.signals import ClipSignals

# FER2013 class -> the adjective a description uses (words of the emotion-wheel vocabulary).
FER_ADJECTIVES = {
    "angry": "angry", "disgust": "disgusted", "fear": "fearful", "happy": "happy",
    "sad": "sad", "surprise": "surprised", "neutral": "neutral",
}


# Same attribute shape as every describer: the Describer protocol (describers/base.py) asks for it.
class FaceExpressionDescriber:
    name = "fer"
    version = "1"
    modality = "visual"
    needs_media = False

    def describe(self, clip: dict, signals: ClipSignals, media=None) -> str:
        n_frames = len(signals.face_found)
        n_faces = sum(signals.face_found)
        if n_faces == 0 or not signals.fer_probs:
            return f"No one is visible in the {n_frames} sampled frames."
        ranked = sorted(signals.fer_probs.items(), key=lambda kv: kv[1], reverse=True)
        (top, top_p), (second, second_p) = ranked[0], ranked[1]
        expression = (f"The expression looks mostly {FER_ADJECTIVES[top]} ({top_p:.0%}), "
                      f"with traces of {FER_ADJECTIVES[second]} ({second_p:.0%}).")
        if top == "neutral":
            expression = (f"The expression looks mostly neutral ({top_p:.0%}), with a hint of "
                          f"{FER_ADJECTIVES[second]} ({second_p:.0%}).")
        smile = (f"The speaker smiles in {signals.smile_frames} of {n_faces} frames."
                 if signals.smile_frames else "The speaker does not smile.")
        motion = "The head shifts noticeably." if signals.head_motion > 0.08 else "The head stays fairly still."
        return f"The speaker is visible in {n_faces} of {n_frames} sampled frames. {expression} {smile} {motion}"
