"""Readers and bad input: every failure is a clear, per-document record; the batch goes on."""

from __future__ import annotations

import io
import json

from tidings.core.records import Document
from tidings.read import MAX_BYTES, InputFailure, read_inputs, read_jsonl, read_text
from tidings.read.checks import looks_english, parse_published


def _one(items):
    items = list(items)
    assert len(items) == 1
    return items[0]


def test_text_file_with_options(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("Rebels captured the town of Kidal on Tuesday, the army said.", "utf-8")
    doc = _one(read_inputs([path], published="2024-03-05", outlet="Reuters"))
    assert isinstance(doc, Document)
    assert doc.published.isoformat() == "2024-03-05" and doc.outlet == "Reuters" and doc.path == str(path)


def test_sidecar_metadata_and_cli_precedence(tmp_path):
    path = tmp_path / "b.txt"
    path.write_text("Troops withdrew from the border area on Monday, officials said.", "utf-8")
    (tmp_path / "b.txt.meta.json").write_text(json.dumps({"published": "2025-01-02", "outlet": "AP"}))
    doc = _one(read_inputs([path]))
    assert doc.published.isoformat() == "2025-01-02" and doc.outlet == "AP"
    doc = _one(read_inputs([path], outlet="AFP"))
    assert doc.outlet == "AFP"


def test_directory_recursive_and_sidecars_skipped(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "one.txt").write_text("The minister met his counterpart in Cairo on Sunday.", "utf-8")
    (tmp_path / "sub" / "two.md").write_text("Police arrested twelve protesters in Dhaka on Friday.", "utf-8")
    (tmp_path / "sub" / "two.md.meta.json").write_text("{}")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\x00\x00")
    items = list(read_inputs([tmp_path]))
    assert [type(i).__name__ for i in items] == ["Document", "Document"]


def test_stdin():
    stream = io.BytesIO(b"Protesters marched through Nairobi on Tuesday.")
    doc = _one(read_inputs(["-"], stdin=stream))
    assert doc.source_kind == "stdin" and doc.path is None


def test_jsonl_rows_and_bad_lines():
    data = "\n".join([
        json.dumps({"text": "Israel struck targets in Rafah, the army said.", "title": "T", "published": "2024-05-07",
                    "outlet": "Reuters", "url": "https://x/1"}),
        "{not json",
        json.dumps({"title": "no text"}),
        json.dumps({"text": "Talks resumed in Doha on Monday.", "published": "2024-02-30"}),
    ])
    items = list(read_jsonl(data, ref="f.jsonl"))
    assert isinstance(items[0], Document) and items[0].url == "https://x/1" and items[0].title == "T"
    assert [i.code for i in items[1:]] == ["E109", "E109", "E107"]
    assert items[1].ref == "f.jsonl:2"


def test_bad_inputs_each_get_a_clear_error(tmp_path):
    cases = {
        "empty.txt": b"   \n\n",
        "binary.txt": bytes(range(256)) * 10,
        "latin1.txt": "Les forces se sont retir\u00e9es".encode("latin-1"),
        "french.txt": ("Les forces russes se sont retirées de la ville de Kherson mercredi, selon le ministère "
                       "de la Défense, qui a annoncé la nouvelle dans un communiqué publié dans la soirée.").encode(),
        "broken.html": b"<html><body><div><p></div></span>",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    huge = tmp_path / "huge.txt"
    with huge.open("wb") as fh:
        fh.truncate(MAX_BYTES + 1)
    items = {i.ref.rsplit("/", 1)[-1]: i for i in read_inputs([tmp_path])}
    assert all(isinstance(i, InputFailure) for i in items.values()), items
    assert items["empty.txt"].code == "E105"
    assert items["binary.txt"].code == "E103"
    assert items["latin1.txt"].code == "E104"
    assert items["french.txt"].code == "E106"
    assert items["broken.html"].code == "E108"
    assert items["huge.txt"].code == "E102"
    assert "huge.txt" in str(items["huge.txt"])


def test_missing_path_and_impossible_date(tmp_path):
    assert _one(read_inputs([tmp_path / "nope.txt"])).code == "E101"
    failure = read_text("Troops withdrew from the area.", published="2024-13-45")
    assert isinstance(failure, InputFailure) and failure.code == "E107" and "2024-13-45" in failure.message
    assert read_text("Troops withdrew.", published="2999-01-01").code == "E107"


def test_html_main_text_title_date(tmp_path):
    page = tmp_path / "page.html"
    body = " ".join(["Government troops retook the northern town of Kidal on Tuesday, the army said."] * 6)
    page.write_text(f"""<html><head><title>Army retakes Kidal</title>
        <meta property="og:site_name" content="Example News">
        <meta property="article:published_time" content="2023-11-14T10:00:00Z"></head>
        <body><nav>Home | World</nav><article><h1>Army retakes Kidal</h1><p>{body}</p></article>
        <footer>Copyright</footer></body></html>""", "utf-8")
    doc = _one(read_inputs([page]))
    assert isinstance(doc, Document), doc
    assert doc.title == "Army retakes Kidal" and doc.published.isoformat() == "2023-11-14"
    assert "Kidal" in doc.text and "Copyright" not in doc.text and doc.source_kind == "html"


def test_language_and_dates_helpers():
    assert looks_english("The army said on Tuesday that it had withdrawn from the town after heavy fighting.")
    assert looks_english("Kidal")  # too short to judge
    assert parse_published("2024-12-07T10:00:00Z").isoformat() == "2024-12-07"
    assert parse_published(None) is None


def test_document_id_is_content_hash():
    a = read_text("Troops  withdrew\nfrom the town.")
    b = read_text("Troops withdrew from the town.")
    assert a.id == b.id
