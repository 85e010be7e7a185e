"""Search over scanned pages against the same pages born digital: nDCG@10 on SciFact.

Run from the repository root (OCR of every scanned page: about a second or two each):

    python bench/reading_search.py                    # 50 queries, 200 abstracts
    python bench/reading_search.py --queries 100 --docs 400 --json out.json

The abstracts of --queries SciFact training queries (every relevant abstract of each) and
random others up to --docs are laid out one per page (bench/_search_corpus.py's text PDF). The
same pages are then rendered at 150 dpi, tilted, blurred and speckled like a scanner's output
(bench/reading_quality.py's `degrade`), and put into an image-only PDF. Both PDFs are read by
`read_document` (text layer and OCR), each page's reading text is indexed with BM25 (k1 1.2,
b 0.75, the same tokens both ways), and nDCG@10 of the queries is compared: target scanned /
born-digital >= 0.97.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import random
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pypdfium2 as pdfium

from _search_corpus import SCIFACT, load_corpus, load_qrels, load_queries, page_text, printable
from _search_corpus import text_pdf as abstracts_pdf
from docquery.pipeline.reading import read_document
from reading_quality import degrade

_TOKEN = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


class Bm25:
    """Okapi BM25 over a fixed list of texts."""

    def __init__(self, texts: list[str], k1: float = 1.2, b: float = 0.75) -> None:
        self.docs = [Counter(tokens(t)) for t in texts]
        self.lengths = [sum(d.values()) for d in self.docs]
        self.average = sum(self.lengths) / max(1, len(self.lengths))
        frequency: Counter[str] = Counter()
        for doc in self.docs:
            frequency.update(doc.keys())
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in frequency.items()}
        self.k1, self.b = k1, b

    def top(self, query: str, k: int = 10) -> list[int]:
        terms = set(tokens(query))
        scores = []
        for index, doc in enumerate(self.docs):
            norm = self.k1 * (1 - self.b + self.b * self.lengths[index] / self.average)
            score = sum(
                self.idf.get(t, 0.0) * doc[t] * (self.k1 + 1) / (doc[t] + norm)
                for t in terms
                if t in doc
            )
            scores.append((score, index))
        return [i for s, i in sorted(scores, reverse=True)[:k] if s > 0]


def ndcg(ranked: list[str], relevant: set[str], k: int = 10) -> float:
    gain = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked[:k]) if d in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    return gain / ideal if ideal else 0.0


def scanned_copy(data: bytes, seed: int) -> bytes:
    """An image-only PDF of the pages of `data`, each rendered at 150 dpi and degraded."""
    rng = random.Random(seed)
    source = pdfium.PdfDocument(data)
    out = pdfium.PdfDocument.new()
    try:
        for index in range(len(source)):
            page = source[index]
            width, height = page.get_size()
            image = degrade(page.render(scale=150 / 72, grayscale=True).to_pil(), rng)
            target = out.new_page(width, height)
            obj = pdfium.PdfImage.new(out)
            obj.set_bitmap(pdfium.PdfBitmap.from_pil(image))
            obj.set_matrix(pdfium.PdfMatrix().scale(width, height))
            target.insert_obj(obj)
            target.gen_content()
        buffer = io.BytesIO()
        out.save(buffer)
        return buffer.getvalue()
    finally:
        out.close()
        source.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    corpus = {a.doc_id: a for a in load_corpus()}
    queries = load_queries(SCIFACT / "train-queries.tsv")
    qrels = load_qrels(SCIFACT / "train-qrels.tsv")
    chosen = [q for q in sorted(qrels, key=int) if qrels[q] <= corpus.keys()][: args.queries]
    ids = sorted({d for q in chosen for d in qrels[q]})
    rng = random.Random(args.seed)
    others = [d for d in corpus if d not in set(ids)]
    ids += rng.sample(others, max(0, args.docs - len(ids)))
    replaced: Counter[str] = Counter()
    born = abstracts_pdf([printable(page_text(corpus[d]), replaced) for d in ids])
    scan = scanned_copy(born, args.seed)
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-reading-search-") as tmp:
        for name, data in (("born_digital", born), ("scanned", scan)):
            path = Path(tmp) / f"{name}.pdf"
            path.write_bytes(data)
            started = time.perf_counter()
            pages = read_document(path)
            results[f"{name}_read_seconds"] = time.perf_counter() - started
            index = Bm25([p.text for p in pages])
            scores = [ndcg([ids[i] for i in index.top(queries[q])], qrels[q]) for q in chosen]
            results[f"{name}_ndcg10"] = sum(scores) / len(scores)
            print(f"{name}: nDCG@10 {results[f'{name}_ndcg10']:.4f}", file=sys.stderr)
    ratio = results["scanned_ndcg10"] / results["born_digital_ndcg10"]
    report = {"queries": len(chosen), "pages": len(ids), "ratio": ratio} | results
    print(
        f"nDCG@10 born digital {results['born_digital_ndcg10']:.4f}, scanned "
        f"{results['scanned_ndcg10']:.4f}: ratio {ratio:.3f} (target >= 0.97) over "
        f"{len(chosen)} queries, {len(ids)} pages; OCR "
        f"{len(ids) / results['scanned_read_seconds']:.2f} pages/s"
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
