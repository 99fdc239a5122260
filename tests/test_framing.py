"""Framing of the captured output: the markers that tell which call printed what, however the
pipe's bytes were cut by the reads."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from grader.framing import MARK_CLOSE, MARK_OPEN, OutputSplitter, output_mark

LABELS = st.sampled_from(["import", "0", "7", "61", "1" * 22, "2" * 23])     # 23 bytes: the longest
# text that looks like the start of a marker, or a marker with a label too long, must stay text
TEXTS = st.binary(max_size=30) | st.sampled_from(
    [MARK_OPEN, MARK_OPEN[:5], MARK_CLOSE, b"hello\n"] + [MARK_OPEN + b"x" * n + MARK_CLOSE for n in (24, 25, 30)])


def _plain_split(stream: bytes) -> list[tuple[bytes, str]]:
    """The rule written plainly on the whole stream: each marker (opening, a label of at most 23
    bytes, closing; the first closing after the opening) ends the text before it."""
    pieces, text, i = [], b"", 0
    while i < len(stream):
        if stream.startswith(MARK_OPEN, i):
            end = stream.find(MARK_CLOSE, i + len(MARK_OPEN), i + len(MARK_OPEN) + 23 + len(MARK_CLOSE))
            if end >= 0:
                pieces.append((text, stream[i + len(MARK_OPEN):end].decode("ascii", "replace")))
                text, i = b"", end + len(MARK_CLOSE)
                continue
        text += stream[i:i + 1]
        i += 1
    return pieces + [(text, None)]


def _normalised(pieces: list[tuple[bytes, str | None]]) -> list[tuple[bytes, str | None]]:
    """Texts between markers joined (how the reads cut the text is not part of the result)."""
    out, text = [], b""
    for piece, label in pieces:
        text += piece
        if label is not None:
            out.append((text, label))
            text = b""
    return out + [(text, None)]


@settings(max_examples=500, deadline=None)
@given(parts=st.lists(st.tuples(TEXTS, LABELS), max_size=8), tail=TEXTS, data=st.data())
def test_markers_split_the_output_however_the_reads_cut_it(parts, tail, data):
    stream = b"".join(text + output_mark(label) for text, label in parts) + tail
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    splitter, pieces, last = OutputSplitter(), [], 0
    for cut in cuts + [len(stream)]:
        pieces += splitter.feed(stream[last:cut])
        last = cut
    pending = splitter._pending          # a marker's opening cut by the end: still text
    assert _normalised(pieces + [(pending, None)]) == _normalised(_plain_split(stream))


def test_a_run_that_prints_nothing_is_only_markers():
    splitter = OutputSplitter()
    stream = b"".join(output_mark(str(i)) for i in range(62))
    assert splitter.feed(stream[:100]) + splitter.feed(stream[100:]) == [(b"", str(i)) for i in range(62)]


def test_a_marker_cut_anywhere_waits_for_its_end():
    mark = output_mark("2" * 23)                            # the longest marker
    for cut in range(1, len(mark)):
        splitter = OutputSplitter()
        assert splitter.feed(b"text" + mark[:cut]) + splitter.feed(mark[cut:]) in (
            [(b"text", None), (b"", "2" * 23)], [(b"text", "2" * 23)])
