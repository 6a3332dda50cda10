"""report.html: one self-contained page (inline CSS, inline SVG, base64 thumbnails, a few
lines of inline script to sort the worst-examples table). It opens from disk with no server
and no network."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from distilvit import __version__
from distilvit.quality import svg
from distilvit.quality.alignment import W

SECTIONS = (("summary", "Summary"), ("alignment", "Image–text alignment"),
            ("fidelity", "Caption fidelity"), ("bias", "Bias"), ("objects", "Objects"),
            ("text", "Text"), ("worst", "Worst examples"), ("files", "Files"))

CSS = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1000px;padding:0 16px 40px;
color:#222}
h1{margin-top:24px}nav a{margin-right:12px}section{border-top:1px solid #ddd;margin-top:24px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f4f4f4;cursor:default}
.num{text-align:right;font-variant-numeric:tabular-nums}.alert{background:#fff4e0;
border-left:4px solid #e0a030;padding:6px 10px;margin:6px 0}.note{color:#555;font-size:90%}
img.thumb{max-width:160px;image-rendering:pixelated}#worst-table th{cursor:pointer}
"""

# Sort the worst-examples table by a clicked column; mark the page as rendered.
SCRIPT = """
document.querySelectorAll('#worst-table th').forEach(function(th, col){
  th.addEventListener('click', function(){
    var body = th.closest('table').tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var asc = th.dataset.order !== 'asc'; th.dataset.order = asc ? 'asc' : 'desc';
    rows.sort(function(a, b){
      var x = a.cells[col].dataset.v || a.cells[col].textContent;
      var y = b.cells[col].dataset.v || b.cells[col].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      var d = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return asc ? d : -d; });
    rows.forEach(function(r){ body.appendChild(r); }); }); });
document.documentElement.setAttribute('data-rendered', String(
  document.querySelectorAll('section').length));
"""


class Raw(str):
    """Markup that is already safe (built here from escaped parts)."""


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return escape(str(value))


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], table_id: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows)
    ident = f' id="{table_id}"' if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'<td class="num" data-v="{value}">{_num(value)}</td>'
    if isinstance(value, Raw):
        return f"<td>{value}</td>"
    return f"<td>{_num(value)}</td>"


def _stats_rows(name: str, values: dict[str, float] | None) -> list[list[Any]]:
    if not values:
        return []
    return [[name, values["n"], values["mean"], values["median"], values["p10"], values["p90"],
             values["min"], values["max"]]]


STAT_HEADER = ("measure", "captions", "mean", "median", "p10", "p90", "min", "max")


def _summary(s: dict[str, Any]) -> str:
    align, fid, text, objects = s["alignment"], s["fidelity"], s["text"], s["objects"]
    rows = [
        ["examples", s["examples"]], ["captions", s["captions"]],
        ["CLIPScore (mean)", (align["clip_score"] or {}).get("mean")],
        ["RefCLIPScore (mean)", (align["ref_clip_score"] or {}).get("mean")],
        ["fidelity (mean)", (fid["score"] or {}).get("mean")],
        ["captions with any bias term", s["bias"]["captions"]["any_category_rate"]],
        ["distinct objects", objects["distinct_objects"]],
        ["object entropy (normalised)", objects["normalized_entropy"]],
        ["object Gini", objects["gini"]], ["duplicate caption rate", text["duplicate_rate"]],
        ["mean words per caption", text["mean_words"]], ["seconds", s["seconds"]],
    ]
    alerts = "".join(f'<div class="alert">{escape(a)}</div>' for a in objects["alerts"])
    return _table(("figure", "value"), rows) + alerts


def _alignment(s: dict[str, Any], clip: list[float], ref: list[float]) -> str:
    a = s["alignment"]
    if a["skipped"] or not a["clip_score"]:
        reason = a["skipped"] or "no images in this dataset"
        return f'<div class="alert">Not computed: {escape(reason)}</div>'
    labels, counts = svg.binned(clip, 0.0, W, 25)
    parts = [f"<p>Model <code>{escape(a['model'])}</code>, text prefix "
             f"“{escape(a['prefix'])}”. {escape(a['definition'])}.</p>",
             _table(STAT_HEADER, _stats_rows("CLIPScore", a["clip_score"]) +
                    _stats_rows("RefCLIPScore", a["ref_clip_score"])),
             svg.histogram(labels, counts, x_label="CLIPScore per caption",
                           chart_id="chart-clip")]
    if ref:
        labels, counts = svg.binned(ref, 0.0, 1.0, 20)
        parts.append(svg.histogram(labels, counts, x_label="RefCLIPScore per caption",
                                   chart_id="chart-refclip"))
    return "".join(parts)


def _fidelity(s: dict[str, Any], values: list[float]) -> str:
    f = s["fidelity"]
    if not f["score"]:
        return f'<div class="alert">Not computed: {escape(f["skipped"])}.</div>'
    labels, counts = svg.binned(values, 0.0, 1.0, 20)
    return (f"<p>Each caption against its best-matching original: {escape(f['method'])}.</p>"
            + _table(STAT_HEADER, _stats_rows("fidelity", f["score"]))
            + svg.histogram(labels, counts, x_label="fidelity per caption",
                            chart_id="chart-fidelity"))


def _bias(s: dict[str, Any]) -> str:
    b = s["bias"]
    cats = list(b["captions"]["categories"])
    series, names = [[b["captions"]["categories"][c]["rate"] for c in cats]], ["captions"]
    if b["originals"]:
        series.append([b["originals"]["categories"][c]["rate"] for c in cats])
        names.append("original captions")
    rows = []
    for c in cats:
        mine = b["captions"]["categories"][c]
        orig = b["originals"]["categories"][c]["rate"] if b["originals"] else None
        terms = ", ".join(f"{t} ({n})" for t, n in mine["top_terms"])
        rows.append([c, mine["rate"], orig, terms])
    sources = "".join(f"<li><b>{escape(c)}</b>: {escape(src)}</li>"
                      for c, src in b["sources"].items())
    return ("<p>Share of captions holding at least one term of each category. Colour and "
            "everyday words (black, white, old, young, tall, French) count only when they "
            "describe a person: “black dog”, “old building”, “French fries” do not.</p>"
            + svg.hbar_chart(cats, series, names, percent=True, chart_id="chart-bias")
            + _table(("category", "captions", "original captions", "most frequent terms"), rows)
            + f'<p class="note">Word lists:</p><ul class="note">{sources}</ul>')


def _objects(s: dict[str, Any]) -> str:
    o = s["objects"]
    top = list(o["counts"].items())[:25]
    rows = [["origin", o["origin"]], ["images with objects", o["images_with_objects"]],
            ["distinct objects", o["distinct_objects"]], ["mentions", o["mentions"]],
            ["entropy (bits)", o["entropy_bits"]], ["normalised entropy", o["normalized_entropy"]],
            ["Gini", o["gini"]], ["top-5 share", o["top5_share"]],
            ["top-10 share", o["top10_share"]]]
    rare = ", ".join(o["rare_objects"][:60]) + (" …" if len(o["rare_objects"]) > 60 else "")
    alerts = "".join(f'<div class="alert">{escape(a)}</div>' for a in o["alerts"])
    chart = svg.hbar_chart([k for k, _ in top], [[v for _, v in top]], chart_id="chart-objects")
    return (_table(("figure", "value"), rows) + alerts + chart
            + f"<p><b>Rare objects</b> (fewer than {o['rare_threshold']} images, "
            f"{len(o['rare_objects'])}): {escape(rare) or 'none'}</p>"
            "<p class=\"note\">reweighting.csv gives each image an inverse-frequency sampling "
            "weight (the weight of its rarest object, mean 1).</p>")


def _text(s: dict[str, Any]) -> str:
    t = s["text"]
    hist = t["length_histogram"]
    rows = [["captions", t["captions"]], ["mean words", t["mean_words"]],
            ["median words", t["median_words"]], ["vocabulary size", t["vocabulary_size"]],
            ["type/token ratio", t["type_token_ratio"]], ["duplicate rate", t["duplicate_rate"]]]
    top = ", ".join(f"{w} ({n})" for w, n in t["top_words"])
    return (_table(("figure", "value"), rows)
            + svg.histogram(list(hist), list(hist.values()), x_label="words per caption",
                            chart_id="chart-length")
            + f'<p class="note">Most frequent words: {escape(top)}</p>')


def _worst(worst: list[dict[str, Any]]) -> str:
    if not worst:
        return "<p>No examples.</p>"
    rows = []
    for e in worst:
        image = (Raw(f'<img class="thumb" alt="{escape(e["id"])}" src="{e["image"]}">')
                 if e.get("image") else "–")
        captions = Raw("<br>".join(escape(c) for c in e["captions"]))
        rows.append([image, e["id"], e["source"], round(e["score"], 3), captions,
                     Raw("<br>".join(escape(r) for r in e["reasons"]))])
    return ("<p>Ranked by a combined problem score (misalignment, infidelity, bias terms, "
            "length, duplicates; see docs/dataset_quality.md). Click a header to sort.</p>"
            + _table(("image", "id", "source", "score", "captions", "why"), rows,
                     table_id="worst-table"))


def _files(s: dict[str, Any]) -> str:
    return "<ul>" + "".join(f"<li><code>{escape(f)}</code></li>" for f in s["outputs"]) + "</ul>"


def render(s: dict[str, Any], charts: dict[str, list[float]], worst: list[dict[str, Any]]) -> str:
    bodies = {
        "summary": _summary(s), "alignment": _alignment(s, charts["clip"], charts["ref_clip"]),
        "fidelity": _fidelity(s, charts["fidelity"]), "bias": _bias(s),
        "objects": _objects(s), "text": _text(s), "worst": _worst(worst), "files": _files(s),
    }
    nav = "".join(f'<a href="#{k}">{escape(t)}</a>' for k, t in SECTIONS)
    sections = "".join(f'<section id="{k}"><h2>{escape(t)}</h2>{bodies[k]}</section>'
                       for k, t in SECTIONS)
    title = f"Dataset quality: {s['dataset']} ({s['split']})"
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{escape(title)}</h1><p class=\"note\">distilvit {__version__}; "
            f"{s['examples']} examples, {s['captions']} captions.</p><nav>{nav}</nav>"
            f"{sections}<script>{SCRIPT}</script></body></html>\n")
