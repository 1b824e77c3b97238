"""Formality rules per culture: which register a message is written in.

The *text* of each register lives in the gettext catalogs (``edge/locales``); this module only
decides which register a lead gets. A catalog context is ``"<part>|<register>"``, for example
``"first_contact|formal"``.

Languages with a T-V distinction (Spanish usted/tú, French vous/tu, German Sie/du, ...) have two
registers, ``formal`` and ``casual``; ``neutral`` is written in their ``formal`` register because
a client is addressed formally until the client invites otherwise. English, Korean, Japanese and
Vietnamese have three registers:

- ko: formal = hapsyo-che (-습니다), neutral = haeyo-che (-요), casual = hae-che (banmal);
- ja: formal = keigo (sonkeigo and kenjōgo), neutral = teineigo (です/ます), casual = plain form;
- vi: formal = quý khách, neutral = anh/chị, casual = bạn;
- en: formal = "Dear ...", neutral = "Hi ...", casual = "Hey ...".
"""

from __future__ import annotations

from enum import StrEnum

from sync.languages import LANGUAGES
from sync.records import Formality

#: The 16 languages whose catalogs ship with the device (ISO 639-1).
SUPPORTED_LANGUAGES: tuple[str, ...] = LANGUAGES

#: Languages with three written registers; every other language has ``formal`` and ``casual``.
THREE_REGISTER_LANGUAGES: frozenset[str] = frozenset({"en", "ko", "ja", "vi"})

#: Languages in which an unknown lead is addressed neutrally (not formally) on first contact.
NEUTRAL_FIRST_CONTACT: frozenset[str] = frozenset({"en"})


class Gender(StrEnum):
    """The agent's grammatical gender, where a language marks it (Thai ครับ/ค่ะ)."""

    MALE = "male"
    FEMALE = "female"


def default_formality(language: str, *, first_contact: bool) -> Formality:
    """The formality a culture expects when the lead's profile says nothing.

    First contact is formal everywhere but in English (neutral "Hi"); once a conversation is
    going, Korean moves to haeyo-che, Japanese to teineigo and Vietnamese to anh/chị, and the
    T-V languages stay formal (their neutral register is their formal one).
    """
    if first_contact and language not in NEUTRAL_FIRST_CONTACT:
        return Formality.FORMAL
    return Formality.NEUTRAL


def register_for(language: str, formality: Formality) -> str:
    """The catalog register (``formal``, ``neutral`` or ``casual``) a formality is written in."""
    if formality is Formality.NEUTRAL and language not in THREE_REGISTER_LANGUAGES:
        return Formality.FORMAL.value
    return formality.value


def thai_particles(agent_gender: Gender | None) -> tuple[str, str]:
    """Thai polite particles (statement, question) for the agent's gender.

    A male agent ends sentences with ครับ, a female agent with ค่ะ (คะ in questions); when the
    gender is unknown the message uses the neutral-polite written register, without particles.
    """
    if agent_gender is Gender.MALE:
        return "ครับ", "ครับ"
    if agent_gender is Gender.FEMALE:
        return "ค่ะ", "คะ"
    return "", ""
