"""``index.html`` of an auralisation folder: the original and every (layer, feature) side by side.

All links are relative, so the folder can be moved or served as is. A small inline script
checks after loading that every ``<img>`` decoded (``naturalWidth > 0``) and every
``<audio>`` read its header, and writes the result into ``#status`` and
``<body data-missing="...">`` (used by the tests through headless Chromium).
"""
from __future__ import annotations

import html
from pathlib import Path

from ..atomic import write_text

_CSS = """body{font-family:sans-serif;margin:1em;background:#fafafa}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px;vertical-align:top;background:#fff}
figure{margin:0;text-align:center}figcaption{font-size:80%}img{width:360px}audio{width:360px}
#status{font-size:80%;color:#555}"""

_CHECK = """<script>
function sonotypeCheck(){
  var missing=[];
  document.querySelectorAll('img').forEach(function(i){
    if(!(i.complete && i.naturalWidth>0)) missing.push(i.getAttribute('src'));});
  document.querySelectorAll('audio').forEach(function(a){
    if(a.error || a.readyState<1) missing.push(a.getAttribute('src'));});
  document.body.setAttribute('data-missing', missing.join(' '));
  document.body.setAttribute('data-checked', String(document.querySelectorAll('img,audio').length));
  document.getElementById('status').textContent = missing.length ?
    ('missing: '+missing.join(', ')) : ('all '+document.querySelectorAll('img,audio').length+' resources loaded');
}
window.addEventListener('load', function(){
  var audios=[].slice.call(document.querySelectorAll('audio'));
  var left=audios.length;
  function done(){ if(--left<=0) sonotypeCheck(); }
  if(!left) { sonotypeCheck(); return; }
  audios.forEach(function(a){
    if(a.readyState>=1 || a.error) { done(); return; }
    a.addEventListener('loadedmetadata', done, {once:true});
    a.addEventListener('error', done, {once:true});
    a.load();
  });
  setTimeout(sonotypeCheck, 4000);
});
</script>"""


def _cell(wav: str | None, png: str | None, caption: str) -> str:
    parts = ["<figure>"]
    if png:
        parts.append(f'<img src="{html.escape(png)}" alt="{html.escape(caption)}">')
    if wav:
        parts.append(f'<br><audio controls preload="metadata" src="{html.escape(wav)}"></audio>')
    parts.append(f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    return "".join(parts)


def write_index(out_dir, result: dict, title: str = "Auralisation") -> Path:
    """Write ``out_dir/index.html`` for an :func:`~sonotype.explain.auralise.auralise` result.

    One row per layer: the original clip in the first column, then the layer's features
    (spectrogram PNG of the deconvolution above its ``<audio>`` player).
    """
    out_dir = Path(out_dir)
    orig = result["original"]
    by_layer: dict = {}
    for it in result["items"]:
        by_layer.setdefault(it["layer"], []).append(it)
    rows = []
    for layer, its in sorted(by_layer.items()):
        cells = [f"<th>layer {layer}</th>", f"<td>{_cell(orig['wav'], orig['png'], 'original')}</td>"]
        for it in its:
            cap = f"feature {it['feature']}" + (f" (rank {it['rank']})" if it.get("rank") else "")
            cells.append(f"<td>{_cell(it['wav'], it['png'], cap)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    mode = result.get("mode", "")
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_CSS}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p>Model {html.escape(str(result.get('model', '')))}; features {html.escape(str(result.get('selection', '')))};
mask mode {html.escape(str(mode))}. Each feature map was deconvolved to the input, applied to the clip's
complex STFT (original phase kept), inverted and peak-normalised (so loudness is not comparable between files).</p>
<p id="status">checking resources...</p>
<table>
{chr(10).join(rows) if rows else '<tr><td>' + _cell(orig['wav'], orig['png'], 'original') + '</td></tr>'}
</table>
{_CHECK}
</body></html>
"""
    return write_text(out_dir / "index.html", doc)
