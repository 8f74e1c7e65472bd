"""HTML mail to plain text with inscriptis (layout-aware, built on lxml).

Two choices matter for what comes after: table cells go on lines of their own (signatures are
often tables: name | title side by side would read as one line), and text inside
``<blockquote>`` comes out as ``> `` lines, so quoted history in HTML replies is stripped by
the same code that strips plain-text quoting.
"""

from __future__ import annotations

from inscriptis import get_annotated_text
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig

MAX_HTML = 2_000_000  # characters; the rest of a larger body is not converted

_CONFIG = ParserConfig(
    css=CSS_PROFILES["strict"],
    table_cell_separator="\n",
    annotation_rules={"blockquote": ["quote"]},
)


def html_to_text(html: str) -> str:
    """Visible text of an HTML body; blockquoted lines start with ``> ``."""
    if not html.strip():
        return ""
    result = get_annotated_text(html[:MAX_HTML], _CONFIG)
    text: str = result["text"]
    spans = sorted((start, end) for start, end, _ in result.get("label", []))
    lines, position = [], 0
    for line in text.split("\n"):
        end = position + len(line)
        quoted = any(start <= position < stop or start < end <= stop for start, stop in spans)
        lines.append(f"> {line.rstrip()}" if quoted and line.strip() else line.rstrip())
        position = end + 1
    return _collapse_blank_runs("\n".join(lines)).strip()


def _collapse_blank_runs(text: str) -> str:
    out: list[str] = []
    for line in text.split("\n"):
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out)
