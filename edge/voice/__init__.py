"""Offline speech: Vosk models per language, WAV reading, transcription and its normalization.

Everything here runs without a network: models come from configuration or from installed
``vosk-model-XX`` packages, never from a download.
"""

from edge.voice.audio import SAMPLE_RATE, read_wav
from edge.voice.models import VoskModels, default_registry
from edge.voice.normalize import normalize_transcript
from edge.voice.transcribe import Final, Partial, Transcriber, Transcript, TranscriptionStream, Word

__all__ = [
    "SAMPLE_RATE",
    "Final",
    "Partial",
    "Transcriber",
    "Transcript",
    "TranscriptionStream",
    "VoskModels",
    "Word",
    "default_registry",
    "normalize_transcript",
    "read_wav",
]
