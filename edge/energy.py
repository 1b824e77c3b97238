"""Energy accounting: CPU time and bytes per operation, and what they cost in battery.

Each operation measured with :meth:`EnergyMeter.measure` records the process CPU time it used
(``time.process_time``, all threads, including SQLite's worker thread) and the bytes it would
send on the next sync (the outbox changes it wrote). :class:`EnergyModel` turns a workload into
joules and battery percent.

Constants and their sources (all assumptions stated; change them per device):

- ``cpu_watts_per_core = 1.0``: one big ARM core at a mid frequency draws about 0.5–1.5 W
  (Android ``power_profile.xml`` ``cpu.core_power.clusterN`` values of 100–400 mA at 3.8 V on
  recent Pixel devices; Carroll and Heiser, "An Analysis of Power Consumption in a
  Smartphone", USENIX ATC 2010). 1 W per CPU-second is a conservative middle. Our benchmark
  runs on a server core, which is faster than a phone's: ``phone_slowdown = 3`` scales the
  measured CPU time up.
- ``radio_joules_per_byte = 3.5e-6``: LTE uplink ≈ 438 mW per Mbit/s, i.e. 0.44 µJ/bit
  (Huang et al., "A Close Examination of Performance and Power Characteristics of 4G LTE
  Networks", MobiSys 2012, table 3: alpha_u = 438.39 mW/Mbps).
- ``radio_tail_joules = 12.3``: after a transfer the LTE radio stays in a high-power tail,
  ≈ 11.6 s at ≈ 1.06 W, plus a 0.26 s promotion at ≈ 1.2 W (same paper, table 2), paid once per
  sync (the four syncs of the reference hour are spread out, so each pays a full tail).
- ``battery_joules = 55_440``: a 4,000 mAh battery at a nominal 3.85 V (15.4 Wh), typical of
  2022–2024 phones (e.g. Pixel 7: 4,355 mAh; Galaxy S23: 3,900 mAh).

The screen, the OS and the radio's idle state are the phone's baseline, not ours: the model
counts the energy this app adds.

The reference workload, :data:`ACTIVE_AGENT_HOUR`: an agent in the field opens 60 leads (an
analysis each, mostly served from the cache), dictates 10 voice notes of 30 s (offline speech
recognition at the measured or assumed real-time factor), drafts 20 messages, plans 5
follow-ups and syncs 4 times.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import msgspec


class OperationCost(msgspec.Struct, kw_only=True):
    count: int = 0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    bytes_sent: int = 0
    audio_s: float = 0.0  # seconds of audio processed (speech), so its cost scales per second

    @property
    def cpu_s_per_op(self) -> float:
        return self.cpu_s / self.count if self.count else 0.0

    @property
    def bytes_per_op(self) -> float:
        return self.bytes_sent / self.count if self.count else 0.0


class EnergyReport(msgspec.Struct, frozen=True, kw_only=True):
    cpu_s: float
    bytes_sent: int
    syncs: int
    cpu_joules: float
    radio_joules: float
    joules: float
    battery_percent: float
    per_operation: dict[str, float]  # joules per operation kind


@dataclass
class EnergyModel:
    cpu_watts_per_core: float = 1.0
    phone_slowdown: float = 3.0
    radio_joules_per_byte: float = 3.5e-6
    radio_tail_joules: float = 12.3
    battery_joules: float = 55_440.0

    def cost(self, cpu_s: float, bytes_sent: int, syncs: int) -> tuple[float, float]:
        cpu_j = cpu_s * self.phone_slowdown * self.cpu_watts_per_core
        radio_j = bytes_sent * self.radio_joules_per_byte + syncs * self.radio_tail_joules
        return cpu_j, radio_j

    def report(self, workload: dict[str, tuple[int, float, float]], syncs: int) -> EnergyReport:
        """``workload``: operation -> (times per hour, CPU s per op, bytes per op)."""
        cpu = sum(n * c for n, c, _b in workload.values())
        sent = int(sum(n * b for n, _c, b in workload.values()))
        cpu_j, radio_j = self.cost(cpu, sent, syncs)
        per = {
            op: round(sum(self.cost(n * c, int(n * b), 0)), 4) for op, (n, c, b) in workload.items()
        }
        per["sync_tails"] = round(syncs * self.radio_tail_joules, 4)
        total = cpu_j + radio_j
        return EnergyReport(
            cpu_s=round(cpu, 4),
            bytes_sent=sent,
            syncs=syncs,
            cpu_joules=round(cpu_j, 3),
            radio_joules=round(radio_j, 3),
            joules=round(total, 3),
            battery_percent=round(100.0 * total / self.battery_joules, 4),
            per_operation=per,
        )


#: Operation -> times per active agent hour. Voice notes: 30 s of audio each.
ACTIVE_AGENT_HOUR: dict[str, int] = {
    "analyze": 60,
    "voice_note": 10,
    "adapt_message": 20,
    "plan_interventions": 5,
}
ACTIVE_AGENT_HOUR_SYNCS = 4
VOICE_NOTE_SECONDS = 30.0
#: Vosk's real-time factor on one phone core when not measured (small models run at about
#: 0.2-0.4 x real time on a mid-range ARM core, alphacephei.com/vosk/models); already a phone
#: figure, so it is divided by ``phone_slowdown`` before the model scales CPU time back up.
ASSUMED_VOSK_RTF = 0.3


@dataclass
class EnergyMeter:
    """Per-operation CPU time and bytes, accumulated in this process."""

    costs: dict[str, OperationCost] = field(default_factory=dict)

    @contextmanager
    def measure(self, operation: str) -> Iterator[OperationCost]:
        """Time one operation; add bytes with ``cost.bytes_sent += n`` inside the block."""
        scratch = OperationCost()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        try:
            yield scratch
        finally:
            c = self.costs.setdefault(operation, OperationCost())
            c.count += 1
            c.cpu_s += time.process_time() - cpu0
            c.wall_s += time.perf_counter() - wall0
            c.bytes_sent += scratch.bytes_sent
            c.audio_s += scratch.audio_s

    def add(self, operation: str, cpu_s: float, bytes_sent: int = 0, count: int = 1) -> None:
        c = self.costs.setdefault(operation, OperationCost())
        c.count += count
        c.cpu_s += cpu_s
        c.bytes_sent += bytes_sent

    def workload(self, per_hour: dict[str, int]) -> dict[str, tuple[int, float, float]]:
        out = {}
        for op, n in per_hour.items():
            c = self.costs.get(op)
            if c is not None and c.count:
                out[op] = (n, c.cpu_s_per_op, c.bytes_per_op)
        return out

    def speech_rtf(self) -> float | None:
        """CPU seconds per second of audio of the speech measured here (model loading is its
        own operation), or None when no audio was measured."""
        c = self.costs.get("voice_note")
        return c.cpu_s / c.audio_s if c is not None and c.audio_s > 0 else None

    def total(self, model: EnergyModel | None = None) -> EnergyReport:
        """Everything measured so far (no extrapolation), as joules and battery percent."""
        work = {op: (1, c.cpu_s, float(c.bytes_sent)) for op, c in self.costs.items()}
        return (model or EnergyModel()).report(work, 0)

    def active_agent_hour(
        self,
        model: EnergyModel | None = None,
        *,
        vosk_rtf: float | None = None,
        sync_bytes: int = 0,
        assume_speech: bool = False,
    ) -> EnergyReport:
        """Battery cost of :data:`ACTIVE_AGENT_HOUR` from what this meter measured.

        Speech costs per second of audio: the measured CPU per audio second (``vosk_rtf`` if
        given, else :meth:`speech_rtf`, else the assumed phone figure; the assumed one always
        with ``assume_speech``, as the README's figure) times 30 s a note. A clip's CPU is never
        taken as a 30 s note's, nor a model load as part of a note.
        """
        model = model or EnergyModel()
        work = self.workload(ACTIVE_AGENT_HOUR)
        rtf = vosk_rtf if vosk_rtf is not None else None if assume_speech else self.speech_rtf()
        if rtf is None:
            rtf = ASSUMED_VOSK_RTF / model.phone_slowdown
        work["voice_note"] = (ACTIVE_AGENT_HOUR["voice_note"], rtf * VOICE_NOTE_SECONDS, 0.0)
        if sync_bytes:
            work["sync"] = (ACTIVE_AGENT_HOUR_SYNCS, 0.0, sync_bytes / ACTIVE_AGENT_HOUR_SYNCS)
        return model.report(work, ACTIVE_AGENT_HOUR_SYNCS)
