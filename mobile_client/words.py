"""What the screens say instead of raw values: enums in words, chances in whole percent, and
the "who to call today and why" summary of the leads list.

The agent's screens are in English; what goes to a lead (the drafted message, its send time) is
localized by the runtime. Pure functions over what the runtime answered: no business logic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: Words for values that do not read well by the generic rule ("new_construction" ->
#: "New construction").
SPECIAL: dict[str, str] = {
    "sms": "SMS",
    "whatsapp": "WhatsApp",
    "email": "Email",
    "in_person": "In person",
    "web": "Web",
}
#: Language codes the runtime supports, by name.
LANGUAGE_NAMES: dict[str, str] = {
    "ar": "Arabic",
    "de": "German",
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "hi": "Hindi",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "pt": "Portuguese",
    "ru": "Russian",
    "th": "Thai",
    "tl": "Tagalog",
    "tr": "Turkish",
    "vi": "Vietnamese",
    "zh": "Chinese",
}
#: What the two behaviour chances mean, said once where they are shown.
P_RESPOND_MEANS = "chance the lead replies to the next contact, any channel or hour"
#: What the real-time factor means, said where a clip's figures are shown.
RTF_MEANS = "real-time factor: processing time ÷ audio length (under 1 is faster than real time)"
STEP_MEANS = (
    "each step: chance of a reply to that message on that channel at that hour "
    "(intervention model; not the same figure as the lead's reply chance above)"
)


def word(value: object) -> str:
    """An enum value in words: ``follow_up_after_silence`` -> "Follow up after silence"."""
    text = str(value)
    if text in SPECIAL:
        return SPECIAL[text]
    spaced = text.replace("_", " ").strip()
    return spaced[:1].upper() + spaced[1:]


def language_name(code: str) -> str:
    """The language's name ("Korean" for ``ko``); the code itself when unknown."""
    return LANGUAGE_NAMES.get(code, code)


def chance(p: float) -> str:
    """A probability in whole percent ("<1 %" below one; a no-break space keeps the sign on
    the line): the int8 model's outputs move in steps of 0.4 points, so a decimal would be
    false precision."""
    return "<1\u00a0%" if p < 0.01 else f"{p * 100:.0f}\u00a0%"


def zone_words(zone: str) -> str:
    """ "America/Los_Angeles" -> "Los Angeles time"."""
    return f"{zone.rsplit('/', 1)[-1].replace('_', ' ')} time"


def real_time_factor(processing_s: float, audio_s: float) -> float:
    """Processing time over audio duration (below 1: faster than the audio plays)."""
    return processing_s / audio_s if audio_s > 0 else 0.0


def speech_line(audio_s: float, processing_s: float, language: str) -> str:
    """One clip's figures, the same on the Voice and Performance screens."""
    rtf = real_time_factor(processing_s, audio_s)
    return (
        f"{audio_s:.1f} s of {language_name(language)} audio transcribed in "
        f"{processing_s:.2f} s: {rtf:.2f}× real time"
    )


def call_today(rows: Sequence[dict[str, Any]], k: int = 3) -> str:
    """Who to call today and why, in words: the ``k`` leads most likely to close, each with
    what raises its chances and its next planned step."""
    open_rows = [r for r in rows if r.get("status") not in ("converted", "lost")]
    ranked = sorted(open_rows, key=lambda r: (-r["p_convert"], -r["p_respond"], r["name"]))
    if not ranked:
        return "No open leads to call today."
    lines = ["Call today:"]
    for i, r in enumerate(ranked[:k], start=1):
        why = ", ".join(r.get("reasons", [])[:2]) or "no strong signal yet"
        lines.append(
            f"{i}. {r['name']}: {chance(r['p_convert'])} chance of a deal, "
            f"{chance(r['p_respond'])} of a reply. Why: {why}. "
            f"Planned: {r['next_step']}."
        )
    return "\n".join(lines)


#: What the Today screen's buttons do, said above the list.
TODAY_MEANS = (
    "Send (or Call) goes through the phone's own apps; Done: you reached the lead yourself; "
    "Skip: drop the step; Snooze: an hour later."
)
#: Why the outreach rules refused a step, by the runtime's reason code.
REFUSALS: dict[str, str] = {
    "opted_out": "{name} opted out of {channel}",
    "no_consent": "{name} has not agreed to be contacted by {channel}",
    "no_address": "there is no {address} for {name}",
    "quiet_hours": "it is outside {name}'s contact hours (08:00–21:00 their time)",
    "holiday": "it is a public holiday where {name} lives",
    "cap": "{name} was contacted too recently (the frequency cap)",
    "not_pending": "this step is no longer open (done, skipped, or its plan was paused or "
    "replaced)",
    "other_executor": "another device sends this plan's steps",
}


def refusal_words(reason: str, name: str, channel: str, retry: str | None = None) -> str:
    """A refused step in words: why, that nothing was sent, and when it may go."""
    address = "e-mail address" if channel == "email" else "phone number"
    why = REFUSALS.get(reason, reason.replace("_", " "))
    line = f"Not sent: {why.format(name=name, channel=word(channel), address=address)}."
    return line + (f" It may go from {retry}." if retry else "")


def execution_words(status: str, name: str, channel: str, detail: str) -> str:
    """What became of a tap on Send, said so: a task by hand is never shown as a success."""
    match status:
        case "sent":
            return f"Sent to {name} by {word(channel)}: {detail}."
        case "due":
            return (
                f"Not sent: {detail}. It stays on the list as a task for you: do it by "
                "hand, then tap Done."
            )
        case "failed":
            return f"Failed, nothing reached {name}: {detail}."
        case "unknown":
            return (
                f"Unknown: {detail}. {name} may have it: check, then tap Reached or "
                "Not reached; it is never sent again by itself."
            )
    return f"{word(status)}: {detail}"


def update_words(report: Any, before: dict[str, str]) -> str:
    """A model update check in words: what was installed, went back, or was refused and why."""
    if report.skipped:
        return f"not checked: {report.skipped}"
    lines = [
        f"installed {name} {version} (was {before.get(name, 'none')}): signature, hash, "
        "feature spec and canary checked"
        for name, version in sorted(report.installed.items())
    ]
    lines += [
        f"went back to {name} {version}: the server withdrew {before.get(name, 'it')}"
        for name, version in sorted(report.rolled_back.items())
    ]
    lines += [
        f"refused {name}: {why}; still running "
        f"{report.running.get(name, before.get(name, 'the shipped model'))}"
        for name, why in sorted(report.rejected.items())
    ]
    if lines:
        return "\n".join(lines)
    running = ", ".join(f"{k} {v}" for k, v in sorted(report.running.items()))
    return f"no newer model on the server: running {running}"
