"""Labelled English sentences for the synthetic demo corpus, written for this project.

Each line carries the discrete emotion (MER2023's six classes), a valence on MER2023's scale
(-5 very negative .. +5 very positive) and open-vocabulary labels drawn from the emotion-wheel
vocabulary, so the demo exercises the same label space as MER-UniBench without research data.
"""

from __future__ import annotations

from typing import NamedTuple


class DemoSentence(NamedTuple):
    text: str
    emotion: str
    valence: float
    ov_labels: tuple[str, ...]


EMOTIONS: tuple[str, ...] = ("happy", "sad", "angry", "worried", "surprise", "neutral")

DEMO_SENTENCES: tuple[DemoSentence, ...] = (
    # happy
    DemoSentence("We finally did it, the whole team made it to the final!", "happy", 4.0, ("happy", "excited", "proud")),
    DemoSentence("Thank you so much, this is the nicest gift anyone has given me.", "happy", 3.5, ("grateful", "happy", "joyful")),
    DemoSentence("I passed the exam, I can hardly stop smiling.", "happy", 3.5, ("happy", "relieved", "cheerful")),
    DemoSentence("What a lovely morning, let's go for a walk by the sea.", "happy", 2.5, ("cheerful", "content", "pleasant")),
    DemoSentence("My sister is getting married and I could not be happier for her.", "happy", 4.0, ("joyful", "delighted", "happy")),
    DemoSentence("You cooked all of this for me? That is wonderful.", "happy", 3.0, ("delighted", "grateful")),
    DemoSentence("The doctor says everything is fine, what a relief.", "happy", 2.5, ("relieved", "happy")),
    DemoSentence("I got the job, I start on Monday!", "happy", 4.5, ("excited", "happy", "proud")),
    # sad
    DemoSentence("I miss her every single day since she left.", "sad", -3.5, ("sad", "lonely", "sorrowful")),
    DemoSentence("They cancelled the trip, and I had been waiting all year for it.", "sad", -2.5, ("disappointed", "sad")),
    DemoSentence("Nobody came to my birthday party this year.", "sad", -3.0, ("lonely", "sad", "hurt")),
    DemoSentence("I tried my best, but it still was not good enough.", "sad", -2.5, ("disappointed", "sad", "depressed")),
    DemoSentence("The old dog passed away last night.", "sad", -4.0, ("grief", "sad", "sorrowful")),
    DemoSentence("I don't think he will ever call me again.", "sad", -3.0, ("sad", "hurt", "lonely")),
    DemoSentence("Everything I built over ten years is gone now.", "sad", -4.0, ("depressed", "sad", "grief")),
    DemoSentence("I wish I had said goodbye to him properly.", "sad", -3.0, ("sad", "guilty")),
    # angry
    DemoSentence("How dare you read my private messages!", "angry", -4.0, ("angry", "furious", "offended")),
    DemoSentence("I have told you three times already, stop doing that!", "angry", -3.0, ("annoyed", "angry", "frustrated")),
    DemoSentence("You lied to me, and you knew it all along.", "angry", -4.0, ("angry", "betrayed", "resentful")),
    DemoSentence("This is the worst service I have ever had, I want my money back.", "angry", -3.5, ("angry", "frustrated", "irritated")),
    DemoSentence("Get out of my office right now!", "angry", -4.5, ("furious", "angry", "hostile")),
    DemoSentence("Why does nobody ever listen to what I say?", "angry", -3.0, ("frustrated", "annoyed", "angry")),
    DemoSentence("You broke it again and you don't even care.", "angry", -3.5, ("angry", "irritated")),
    DemoSentence("I am sick of your excuses.", "angry", -3.5, ("angry", "annoyed", "resentful")),
    # worried
    DemoSentence("He should have been home two hours ago and he is not answering.", "worried", -3.0, ("worried", "anxious", "scared")),
    DemoSentence("What if the test results come back bad?", "worried", -2.5, ("worried", "anxious", "nervous")),
    DemoSentence("I have an interview tomorrow and I cannot sleep.", "worried", -1.5, ("nervous", "anxious", "worried")),
    DemoSentence("Did you hear that noise downstairs?", "worried", -2.5, ("scared", "afraid", "worried")),
    DemoSentence("I am not sure we have enough money to pay the rent this month.", "worried", -3.0, ("worried", "anxious", "insecure")),
    DemoSentence("Please be careful on the road, the storm is getting worse.", "worried", -2.0, ("worried", "afraid")),
    DemoSentence("I don't know if I can do this alone.", "worried", -2.5, ("insecure", "worried", "nervous")),
    DemoSentence("The boss wants to see me, do you think I am in trouble?", "worried", -2.0, ("nervous", "worried", "anxious")),
    # surprise
    DemoSentence("Wait, you are moving to Japan next week?", "surprise", 0.5, ("surprised", "shocked")),
    DemoSentence("Oh my goodness, is that really you after all these years?", "surprise", 2.5, ("surprised", "amazed", "excited")),
    DemoSentence("I had no idea you could play the piano like that!", "surprise", 2.0, ("amazed", "surprised", "astonished")),
    DemoSentence("What? The meeting was moved to today?", "surprise", -0.5, ("surprised", "startled", "confused")),
    DemoSentence("You bought a house without telling anyone?", "surprise", 0.0, ("shocked", "surprised")),
    DemoSentence("No way, we won the lottery?", "surprise", 3.0, ("astonished", "surprised", "excited")),
    DemoSentence("Really? He said yes on the very first try?", "surprise", 1.5, ("surprised", "amazed")),
    DemoSentence("I can't believe the bridge is already finished.", "surprise", 1.0, ("astonished", "surprised")),
    # neutral
    DemoSentence("The train to the city leaves at half past nine.", "neutral", 0.0, ("calm",)),
    DemoSentence("Please put the folders on the second shelf.", "neutral", 0.0, ("calm",)),
    DemoSentence("I will send you the report by the end of the day.", "neutral", 0.0, ("calm",)),
    DemoSentence("The meeting room is on the third floor, next to the kitchen.", "neutral", 0.0, ("calm",)),
    DemoSentence("We usually have lunch around one o'clock.", "neutral", 0.0, ("calm", "relaxed")),
    DemoSentence("Let me check the schedule and get back to you.", "neutral", 0.0, ("calm",)),
    DemoSentence("The package should arrive on Thursday.", "neutral", 0.0, ("calm",)),
    DemoSentence("Turn left at the second light and park behind the library.", "neutral", 0.0, ("calm",)),
)

# espeak-ng prosody per emotion: words per minute, pitch (0-99), amplitude (0-200). Values follow
# the direction of acted-emotion prosody studies (anger loud and fast, sadness slow, low and quiet,
# surprise high); the demo's audio emotion is synthetic and only a sanity check.
PROSODY: dict[str, tuple[int, int, int]] = {
    "happy": (175, 72, 130),
    "sad": (115, 22, 70),
    "angry": (185, 42, 185),
    "worried": (165, 60, 85),
    "surprise": (160, 88, 140),
    "neutral": (150, 45, 100),
}
