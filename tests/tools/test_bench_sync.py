"""`realty-edge bench sync`: a real server process, real device processes, real pushes.

Tiny on purpose (two devices, one round): this checks that the benchmark measures what it
says (every push and pull timed and answered, the server's peak RSS read, the wire size of a
change in a compressed batch), not the figures themselves.
"""

from __future__ import annotations

import gzip
import json
import random

import msgspec
from typer.testing import CliRunner

from tools.bench_sync import body_of, merge_throughput, profile_update
from tools.cli import app


def test_the_command_times_every_push_and_pull_of_every_device_and_reads_the_server_rss():
    args = ["bench", "sync", "--devices", "3", "--rounds", "2", "--processes", "2"]
    done = CliRunner().invoke(app, [*args, "--think-s", "0.01", "--json"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert (result["devices"], result["rounds"], result["processes"]) == (3, 2, 2)
    for kind in ("push_ms", "pull_ms"):
        figures = result[kind]
        assert 0 < figures["p50"] <= figures["p95"] <= figures["p99"], (kind, figures)
    assert 50 < result["server_peak_rss_mb"] < 2000
    assert result["merge_changes_per_s_server"] > 0 and result["merge_changes_per_s_pure"] > 0
    # A change costs fewer bytes the larger its compressed batch.
    wire = result["bytes_per_change"]
    assert wire["batch_1000"] < wire["batch_100"] < wire["batch_20"] < 400
    assert [row[0] for row in result["table"]][-1].startswith("bytes/change")


def test_merge_throughput_applies_every_change_and_a_batch_body_is_gzip_msgpack():
    pure = merge_throughput(batches=2, size=50)
    assert pure["changes_per_s"] > 0
    change = profile_update("dev-1", 1, "prof-1", random.Random(1))
    body = gzip.decompress(body_of("dev-1", [change]))
    assert msgspec.msgpack.decode(body)["changes"][0]["entity_id"] == "prof-1"
