"""Cut chosen English Wikinews articles from a vanatteveldt/wikinews CSV into raw corpus rows, one sentence a row.

    git -C MIRROR show COMMIT:data/wikinews_2019.csv > /tmp/wikinews_2019.csv
    python training/extract_wikinews.py /tmp/wikinews_2019.csv URLS.txt OUT.jsonl \\
        --prefix wnc --origin vanatteveldt/wikinews@347254178bf3:data/wikinews_2019.csv

``URLS.txt`` lists the chosen article urls (one a line, as in the CSV or with ``.org//wiki`` normalised); rows come
out in CSV order with all sentences of each article kept. Then ``training/prelabel.py`` adds the rule coder's
pre-labels and an annotator labels every row (``training/ANNOTATION.md``).

The steps are those written down in ``training/corpus/wikinews_b.SOURCES.md``: row 1 is the headline; the body is
split on blank-line paragraphs, then by a regular-expression sentence splitter (after ``.``/``!``/``?`` and an
optional closing quote, before a capital, digit or opening quote; common abbreviations and single-letter initials
protected). A regex splitter rather than a trained one keeps the cut reproducible with no model download; its known
misses (a lower-case start, a full stop inside a quotation) leave a few two-sentence rows. Dropped: the dateline
paragraph, pull-quote attributions (paragraphs starting with a dash), map-legend lines (``██``), inline
foreign-language originals (``((fr))`` ... to the end of the paragraph) and everything from a paragraph holding
``Image:`` (a gallery). No words are changed.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import unicodedata
from pathlib import Path

ABBREVIATIONS = ("U.S.", "U.K.", "U.N.", "Mr.", "Mrs.", "Ms.", "Dr.", "St.", "Jr.", "Sr.", "a.m.", "p.m.", "No.",
                 "Gen.", "Lt.", "Col.", "Sgt.", "Rep.", "Sen.", "Gov.", "Prof.", "Inc.", "Corp.", "Ltd.", "Co.",
                 "vs.", "Oct.", "Sept.", "Sep.", "Nov.", "Dec.", "Jan.", "Feb.", "Aug.", "Mt.", "Ft.", "Capt.",
                 "Maj.", "Adm.", "D.C.", "e.g.", "i.e.")
_SPLIT = re.compile(r'([.!?]["”’\']?)\s+(?=["“(]?[A-Z0-9])')
_DATELINE = re.compile(r"^(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), \w+ \d+, \d{4}")
_HOLD = "\x00"  # stands in for a protected full stop while splitting


def normalise_url(url: str) -> str:
    return url.replace(".org//wiki", ".org/wiki")


def sentences(paragraph: str) -> list[str]:
    """Split one paragraph into sentences, leaving abbreviations and initials whole."""
    text = paragraph
    for abbreviation in ABBREVIATIONS:
        text = text.replace(abbreviation, abbreviation.replace(".", _HOLD))
    text = re.sub(r"\b([A-Z])\.(?=\s[A-Z])", "\\1" + _HOLD, text)  # middle initials: "John F. Kennedy"
    parts = _SPLIT.split(text)
    out: list[str] = []
    current = ""
    for i, part in enumerate(parts):
        current += part
        if i % 2:  # the captured end punctuation closes a sentence
            out.append(current)
            current = ""
    if current.strip():
        out.append(current)
    return [s.replace(_HOLD, ".").strip() for s in out if s.strip()]


def article_sentences(title: str, text: str) -> list[str]:
    """The headline, then every kept body sentence in order."""
    rows = [title.strip()]
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    for k, paragraph in enumerate(paragraphs):
        if k == 0 and _DATELINE.match(paragraph):
            continue
        if paragraph.startswith(("—", "– ", "██")):
            continue
        if "Image:" in paragraph:
            break
        paragraph = re.sub(r"\(\([a-z]{2}\)\).*$", "", paragraph, flags=re.DOTALL)
        paragraph = re.sub(r"\s+", " ", paragraph.replace("\xa0", " ")).strip()
        if paragraph:
            rows.extend(sentences(paragraph))
    return rows


def doc_id(prefix: str, title: str) -> str:
    """``<prefix>-`` and the first five words of the title, ascii-folded."""
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    return prefix + "-" + "-".join(re.findall(r"[a-z0-9]+", folded)[:5])


def extract(csv_path: Path, urls: set[str], prefix: str, origin: str) -> list[dict]:
    csv.field_size_limit(sys.maxsize)
    with csv_path.open(encoding="utf-8", newline="") as handle:
        articles = [a for a in csv.DictReader(handle) if normalise_url(a["url"]) in urls]
    found = {normalise_url(a["url"]) for a in articles}
    if found != urls:
        raise SystemExit(f"not in {csv_path}: {sorted(urls - found)}")
    rows = []
    for article in articles:
        doc = doc_id(prefix, article["title"])
        for n, text in enumerate(article_sentences(article["title"], article["text"]), 1):
            rows.append({"id": f"{doc}-{n:03d}", "text": text, "doc": doc, "url": normalise_url(article["url"]),
                         "published": article["date"][:10], "origin": origin,
                         "licence": "CC BY 2.5 (English Wikinews)"})
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("urls", type=Path, help="file with one article url a line")
    parser.add_argument("out", type=Path)
    parser.add_argument("--prefix", required=True, help="doc id prefix, e.g. wnc")
    parser.add_argument("--origin", required=True, help="owner/repo@commit:path written into every row")
    args = parser.parse_args(argv[1:])
    urls = {normalise_url(u.strip()) for u in args.urls.read_text("utf-8").splitlines() if u.strip()}
    rows = extract(args.csv, urls, args.prefix, args.origin)
    with args.out.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} rows from {len({r['doc'] for r in rows})} articles -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
