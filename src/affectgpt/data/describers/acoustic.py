"""Acoustic describer: prosody measured from the signal (pitch, energy, speaking rate, pauses)
put into words, with the emotions such prosody usually goes with (acted-speech findings: anger
loud and fast, sadness slow, soft and low, excitement and surprise high-pitched and loud)."""

from __future__ import annotations

from affectgpt.data.signals import ClipSignals

LOUD_DBFS, SOFT_DBFS = -17.5, -21.0
FAST_WPS, SLOW_WPS = 3.6, 2.6
HIGH_HZ, LOW_HZ = 200.0, 110.0
LIVELY_ST, FLAT_ST = 3.5, 1.5


# Same attribute shape as every describer: the Describer protocol (describers/base.py) asks for it.
class AcousticDescriber:
    name = "acoustic"
    version = "1"
    modality = "audio"
    needs_media = False

    def describe(self, clip: dict, signals: ClipSignals, media=None) -> str:
        if signals.speech_s <= 0 or signals.energy_dbfs is None:
            return "No speech can be heard in the audio."
        loudness = _level(signals.energy_dbfs, SOFT_DBFS, LOUD_DBFS, ("quiet", "moderately loud", "loud"))
        rate = _level(signals.words_per_s, SLOW_WPS, FAST_WPS, ("slowly", "at a moderate pace", "fast"))
        pitch = _level(signals.pitch_median_hz, LOW_HZ, HIGH_HZ, ("deep", "mid-range", "high"))
        melody = _level(signals.pitch_std_semitones, FLAT_ST, LIVELY_ST, ("flat", "moderately varied", "widely varied"))
        pauses = "without pauses" if signals.pauses == 0 else f"with {signals.pauses} pause(s) ({signals.pause_s:.1f} s)"
        sentences = [
            f"The speaker talks {rate} ({_num(signals.words_per_s)} words per second) {pauses}, "
            f"in a {loudness} voice ({_num(signals.energy_dbfs)} dBFS).",
            f"The pitch is {pitch} (median {_num(signals.pitch_median_hz)} Hz) and {melody} "
            f"({_num(signals.pitch_std_semitones)} semitones of variation).",
        ]
        cue = _emotion_cue(loudness, rate, pitch)
        if cue:
            sentences.append(f"Such prosody suggests the speaker sounds {cue}.")
        return " ".join(sentences)


def _level(value: float | None, low: float, high: float, words: tuple[str, str, str]) -> str:
    if value is None:
        return words[1]
    return words[0] if value < low else words[2] if value > high else words[1]


def _num(value: float | None) -> str:
    return "unknown" if value is None else f"{value:g}"


def _emotion_cue(loudness: str, rate: str, pitch: str) -> str:
    """Arousal from loudness and rate, then pitch to separate the high-arousal states."""
    arousal = (loudness == "loud") + (rate == "fast") - (loudness == "quiet") - (rate == "slowly")
    if arousal >= 1 and pitch == "high":
        return "excited or surprised"
    if arousal >= 1 and loudness == "loud":
        return "angry or tense"
    if arousal >= 1:
        return "nervous or anxious" if loudness == "quiet" else "excited"
    if arousal <= -1 and pitch != "high":
        return "sad or tired"
    if loudness == "quiet":
        return "worried or hesitant"
    return "calm"
