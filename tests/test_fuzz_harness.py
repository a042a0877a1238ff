"""The fuzz harness (tests/fuzz_atheris.py) checks what it claims, so a fuzz run cannot pass silently.

Its one-input function accepts every seed (each fixture under each header), and reports a planted
escape, a planted broken promise and a planted memory blow-up as failures. Quick: no fuzzing here
except one short smoke run of the real fuzzer when atheris is installed.
"""

import base64
import subprocess
import sys
from pathlib import Path

import pytest

import chunkwise
import fuzz_atheris as harness
from chunkwise import MalformedChunkError
from chunkwise._assembler import StreamAssembler
from chunkwise._models import ChatCompletion
from chunkwise._sse import SSEDecoder

ROOT = Path(__file__).resolve().parent.parent
SEEDS = dict(harness._seeds())
MINIMAL = b"\x00" + harness.SEEDS["minimal"]
TOOL_CALL = b"\x21\x06\x02" + harness.SEEDS["tool-call"]


def test_seeds_cover_every_fixture() -> None:
    fixtures = {
        str(p.relative_to(ROOT / "fixtures")).replace("/", "__") for p in ROOT.glob("fixtures/**/*.sse")
    }
    seeded = {name.rsplit(".", 1)[0] for name in SEEDS}
    assert fixtures and fixtures <= seeded
    assert all(len(data) <= harness.MAX_LEN for data in SEEDS.values())


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_every_seed_passes(name: str) -> None:
    harness.TestOneInput(SEEDS[name])


#: Inputs the fuzzer once failed on, each with what was wrong (base64, as the CI report prints them).
FOUND = {
    # The harness, not the library: `json.loads` reads the usage's `NaN`, so the payload was fed as a
    # dict (the choice merged, then the NaN refused where it enters) and as text (not JSON: nothing
    # merged). The two partials differ by design; a payload holding NaN is no longer a dict payload.
    "nan-in-usage": (
        "AGRhdGE6IHsiY2hvaWNlcyI6IFt7ImRlbHRhIjogeyJyb2xlIjogImFzc2lzdGFudCIsICJjb250ZW50IjogIkhlcmUgaXMg"
        "dGhlIGltYWdlIG9mIHRoZSBncmVlbiBzaGlydCJ9LCAiaW5kZXgiOiAwLCAibG9ncHJvYnMiOiBudWxsfV0sICJpZCI6ICJi"
        "QS1OYWNDUEtvYWVfOU1Qc05DbjZRYyIsICJjcmVhdGVkIjogMTc3MDg1MjIwNCwgIm1vZGVsIjogImdvb2dsZS9nZW1pbmkt"
        "My1wcm8tcHJldmlldyIsICJvYmplY3QiOiAiY2hhdC5jb21wbGV0aW9uLmNodW5rIiwgInN5c3RlbV9maW5nZXJwcmludCI6"
        "ICIifQoKZGF0YTogeyJjaG9pY2VzIjogW3siZGVsdGEiOiB7InJvbGUiOiAiYXNzaXN0YW50IiwgImNvbnRlbnQiOiAiIHlv"
        "dSBvcmRlcmVkLiJ9LCAiZmluaXNoX3JlYXNvbiI6ICJzdG9wIiwgImluZGV4IjogMCwgImxvZ3Byb2JzIjogbnVsbH1dLCAi"
        "aWQiOiAiYkEtTmFjQ1BLb2FlXzlNUHNOQ242UWMiLCAiY3JlYXRlZCI6IDE3NzA4NTIyMDQsICJtb2RlbCI6ICJnb29nbGUv"
        "Z2VtaW5pLTMtcHJvLXByZXZpZXciLCAib2JqZWN0IjogImNoYXQuY29tcGxldGlvbi5jaHVuayIsICJzeXN0ZW1fZmluZ2Vy"
        "cHJpbnQiOiAiIiwgInVzYWdlIjogeyJjb21wbGV0aW9uX3Rva2VucyI6TmFOLCAiZXh0cmFfcHJvcGVydGllcyI6IHsiZ29v"
        "Z2xlIjogeyJ0cmFmZmljX3R5cGUiOiAiT05fREVNQU5EIn19LCAicHJvbXB0X3Rva2VucyI6IDExMzksICJ0b3RhbF90b2tl"
        "bnMiOiAxMTU1fX0KCmRhdGE6IFtET05FXQoK"
    ),
}


@pytest.mark.parametrize("name", sorted(FOUND))
def test_inputs_the_fuzzer_found_pass(name: str) -> None:
    harness.TestOneInput(base64.b64decode(FOUND[name]))


def test_input_layout() -> None:
    options, pieces, body = harness._parse(b"\x21\x06\x02" + b"abcdefghijklmnopq")
    assert options == {"thought_tag": "think", "require_done": False}
    assert body == b"abcdefghijklmnopq"
    assert pieces == [b"abcdefg", b"hij", b"klmnopq"]
    options, pieces, body = harness._parse(b"\x1c\x00abc")
    assert options == {"thought_tag": None, "require_done": True, **harness.SMALL}
    assert pieces == [b"a", b"b", b"c"]
    assert harness._parse(b"\x00abcd")[1] == [b"ab", b"cd"]  # no sizes: two halves
    assert harness._parse(b"") == ({"thought_tag": None, "require_done": False}, [b"", b""], b"")


def _raise(exc: BaseException):
    def planted(*args, **kwargs):
        raise exc

    return planted


@pytest.mark.parametrize(
    ("where", "exc"),
    [
        # feed_bytes: the SSE decoder runs outside every except clause of the assembler
        ((SSEDecoder, "decode_compact"), KeyError("planted")),
        # merging a chunk read from bytes: only Malformed and RecursionError are caught there
        ((StreamAssembler, "_apply_chunk"), TypeError("planted")),
        ((StreamAssembler, "close"), RecursionError("planted")),
        # the dumps the README promises, of a completion
        ((ChatCompletion, "to_request_message"), UnicodeEncodeError("utf-8", "\ud800", 0, 1, "planted")),
    ],
    ids=["decoder-KeyError", "apply-TypeError", "close-RecursionError", "dump-UnicodeEncodeError"],
)
def test_a_planted_escape_is_a_failure(monkeypatch: pytest.MonkeyPatch, where, exc: BaseException) -> None:
    monkeypatch.setattr(*where, _raise(exc))
    with pytest.raises(AssertionError, match=f"{type(exc).__name__} escaped"):
        harness.TestOneInput(TOOL_CALL)


def test_an_error_without_its_partial_is_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunkwise, "assemble", _raise(MalformedChunkError("planted", position=1, raw="")))
    with pytest.raises(AssertionError, match="without a partial"):
        harness.TestOneInput(MINIMAL)


def test_a_planted_split_difference_is_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    real = StreamAssembler.feed_bytes

    def one_byte_lost(self, data):  # loses the last byte of every piece that is not the whole body
        return real(self, data[:-1] if 0 < len(data) < 40 else data)

    monkeypatch.setattr(StreamAssembler, "feed_bytes", one_byte_lost)
    with pytest.raises(AssertionError, match="split changes"):
        harness.TestOneInput(TOOL_CALL)


def test_a_planted_memory_blowup_is_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    real = chunkwise.assemble

    def hungry(*args, **kwargs):
        held = bytearray(harness.MEMORY_BASE + harness.MEMORY_PER_BYTE * len(MINIMAL))
        result = real(*args, **kwargs)
        del held
        return result

    monkeypatch.setattr(chunkwise, "assemble", hungry)
    with pytest.raises(AssertionError, match="memory: the byte entry point peaked"):
        harness.TestOneInput(MINIMAL)


@pytest.mark.parametrize(
    "body",
    [
        # the widest legitimate fan-out per input byte: many choices, many tool calls
        b'data: {"choices":[' + b",".join(b'{"index":%d}' % i for i in range(128)) + b"]}\n\n",
        b'data: {"choices":[{"delta":{"tool_calls":['
        + b",".join(b'{"index":%d}' % i for i in range(250))
        + b']},"finish_reason":"tool_calls"}]}\n\n',
    ],
    ids=["128-choices", "250-calls"],
)
def test_the_memory_bound_holds_for_legitimate_fan_out(body: bytes) -> None:
    assert len(body) < harness.MAX_LEN
    harness.TestOneInput(b"\x00" + body)


def test_fuzz_summary_reads_libfuzzer_output() -> None:
    log = (
        "INFO: seed corpus: files: 72 min: 1b max: 3870b total: 80000b rss: 90Mb\n"
        "#72\tINITED cov: 2301 ft: 7000 corp: 60/50Kb exec/s: 0 rss: 120Mb\n"
        "#2000\tNEW    cov: 2310 ft: 7020 corp: 61/51Kb lim: 40 exec/s: 100 rss: 131Mb L: 20/20 MS: 1 ChangeBit-\n"
        "#5120\tDONE   cov: 2400 ft: 7500 corp: 90/70Kb lim: 400 exec/s: 100 rss: 140Mb\n"
        "Done 5120 runs in 51 second(s)\n"
        "stat::number_of_executed_units: 5120\n"
        "stat::new_units_added:          30\n"
        "stat::peak_rss_mb:              141\n"
    )
    assert harness.fuzz_summary(log) == {
        "execs": 5120,
        "cov": 2400,
        "ft": 7500,
        "corpus": 90,
        "corpus_bytes": "70Kb",
        "rss_mb": 140,
        "peak_rss_mb": 141,
        "new_units": 30,
    }
    assert harness.fuzz_summary("")["execs"] is None  # the CI step fails when nothing ran


def test_a_failing_input_is_printed_reproducibly(tmp_path: Path) -> None:
    crash = tmp_path / "crash-abc"
    crash.write_bytes(b"\x00data: \xff\n\n")
    report = harness.report_artifact(crash)
    b64 = next(line.split(": ", 1)[1] for line in report.splitlines() if line.startswith("base64: "))
    assert base64.b64decode(b64) == crash.read_bytes()
    assert f"python3 tests/fuzz_atheris.py {crash}" in report


def test_the_real_fuzzer_runs_the_harness(tmp_path: Path) -> None:
    pytest.importorskip("atheris")  # no wheel for this platform: the CI step prints the warning
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("synthetic__minimal.00", "synthetic__tool-call.210602"):
        (corpus / name).write_bytes(SEEDS[name])
    run = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "fuzz_atheris.py"), "-runs=40", "-max_len=4096", str(corpus)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Instrumenting chunkwise._assembler" in run.stderr and "Done 40 runs" in run.stderr
