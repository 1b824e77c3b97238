"""One codec for every wire and stored type: JSON and MessagePack, encoders and decoders built once.

Decoding failures raise :class:`~sync.errors.DecodeError` whose message names the field path
(``at `$.changes[3].hlc```) and, for batches, the record number.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from functools import cache
from typing import Any, TypeVar

import msgspec

from sync.errors import BatchRecordError, DecodeError
from sync.records import IngestRecord

T = TypeVar("T")


class Format(StrEnum):
    JSON = "json"
    MSGPACK = "msgpack"


_json_encoder = msgspec.json.Encoder()
_msgpack_encoder = msgspec.msgpack.Encoder()


@cache
def _json_decoder(tp: Any) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(tp)


@cache
def _msgpack_decoder(tp: Any) -> msgspec.msgpack.Decoder[Any]:
    return msgspec.msgpack.Decoder(tp)


def encode(obj: Any, fmt: Format = Format.MSGPACK) -> bytes:
    """Encode a Struct (or builtin) as JSON or MessagePack."""
    if fmt is Format.JSON:
        return _json_encoder.encode(obj)
    return _msgpack_encoder.encode(obj)


def decode(data: bytes | str, tp: Any, fmt: Format = Format.MSGPACK) -> Any:
    """Decode and validate ``data`` as ``tp``; raise DecodeError naming the field path."""
    try:
        if fmt is Format.JSON:
            return _json_decoder(tp).decode(data)
        return _msgpack_decoder(tp).decode(data.encode() if isinstance(data, str) else data)
    except msgspec.ValidationError as exc:
        raise DecodeError(str(exc)) from exc
    except msgspec.DecodeError as exc:
        raise DecodeError(f"malformed {fmt.value}: {exc}") from exc


#: The UTF-8 byte-order mark some editors (Excel, Notepad) put before JSON lines.
UTF8_BOM = b"\xef\xbb\xbf"


def strip_bom(data: bytes) -> bytes:
    """``data`` without a leading UTF-8 byte-order mark."""
    return data[len(UTF8_BOM) :] if data.startswith(UTF8_BOM) else data


def sniff_format(data: bytes) -> Format:
    """JSON lines start with ``{`` (after a BOM and blanks); anything else is MessagePack."""
    head = strip_bom(data).lstrip()[:1]
    return Format.JSON if head in (b"{", b"[") else Format.MSGPACK


def encode_batch(records: list[Any], fmt: Format) -> bytes:
    """A batch file: JSON lines (one record per line) or one MessagePack array."""
    if fmt is Format.JSON:
        return b"".join(_json_encoder.encode(r) + b"\n" for r in records)
    return _msgpack_encoder.encode(records)


def iter_batch_results(data: bytes, tp: Any = IngestRecord) -> Iterator[Any | DecodeError]:
    """Decode a batch record by record, yielding each record or the DecodeError of a bad one.

    A bad record does not stop the rest (so that every bad record can be reported); bytes that
    are no batch at all raise DecodeError. Errors say ``record N (line L)`` and the field path.
    """
    data = strip_bom(data)
    if not data.strip():
        return
    fmt = sniff_format(data)
    if fmt is Format.MSGPACK:
        try:
            items = msgspec.msgpack.decode(data, type=list[msgspec.Raw])
        except msgspec.DecodeError as exc:
            raise DecodeError(
                f"batch is neither JSON lines nor a MessagePack array: {exc}"
            ) from exc
        decoder = _msgpack_decoder(tp)
        for n, raw in enumerate(items, 1):
            try:
                yield decoder.decode(raw)
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                yield BatchRecordError(f"record {n}: {exc}", n)
        return
    json_decoder = _json_decoder(tp)
    n = 0
    for line_no, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        n += 1
        try:
            yield json_decoder.decode(line)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            yield BatchRecordError(f"record {n} (line {line_no}): {exc}", n)


def iter_batch(data: bytes, tp: Any = IngestRecord) -> Iterator[Any]:
    """Decode a batch record by record; the first bad record raises DecodeError."""
    for item in iter_batch_results(data, tp):
        if isinstance(item, DecodeError):
            raise item
        yield item
