"""`GET /`: a small upload page that posts to `/caption` (no external assets, strict CSP)."""

from __future__ import annotations

import html
import secrets

_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>distilvit captions</title>
<style nonce="{nonce}">
body {{ font-family: system-ui, sans-serif; max-width: 44rem; margin: 2rem auto;
       padding: 0 1rem; color: #222; }}
fieldset {{ border: 1px solid #ccc; padding: 1rem; }}
label {{ display: block; margin: .5rem 0; }}
#results figure {{ display: flex; gap: 1rem; align-items: center; margin: 1rem 0; }}
#results img {{ max-width: 8rem; max-height: 8rem; }}
.error {{ color: #a00; }}
small {{ color: #666; }}
</style>
</head>
<body>
<h1>distilvit captions</h1>
<p>Model <b>{model}</b> ({backend}). Images stay on this server; nothing is fetched from
elsewhere. Up to {max_images} images, {max_upload_mb:g} MB per request.</p>
<form id="form">
<fieldset>
<label>Images <input type="file" name="image" accept="image/*" multiple required></label>
<label>Beams <input type="number" name="num_beams" min="1" max="{max_num_beams}"
  value="{num_beams}"></label>
<label>Max new tokens <input type="number" name="max_new_tokens" min="1"
  max="{max_new_tokens_limit}" value="{max_new_tokens}"></label>
<button type="submit">Caption</button>
</fieldset>
</form>
<div id="results" aria-live="polite"></div>
<p><small><a href="openapi.json">API description (OpenAPI)</a> &middot;
<a href="info">server info</a></small></p>
<script nonce="{nonce}">
const form = document.getElementById("form");
const results = document.getElementById("results");
form.addEventListener("submit", async (event) => {{
  event.preventDefault();
  const data = new FormData(form);
  const files = data.getAll("image");
  results.textContent = "captioning...";
  const response = await fetch("caption", {{ method: "POST", body: data }});
  const body = await response.json();
  results.textContent = "";
  if (!response.ok) {{
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = `${{response.status}}: ${{body.error}}`;
    results.append(p);
    return;
  }}
  body.captions.forEach((item, i) => {{
    const figure = document.createElement("figure");
    const img = document.createElement("img");
    img.src = URL.createObjectURL(files[i]);
    img.alt = item.caption;
    const caption = document.createElement("figcaption");
    caption.textContent = item.caption;
    const timing = document.createElement("small");
    timing.textContent = ` (${{item.timings.total_ms.toFixed(0)}} ms, batch of ${{item.batch_size}})`;
    caption.append(timing);
    figure.append(img, caption);
    results.append(figure);
  }});
}});
</script>
</body>
</html>
"""


def render(values: dict[str, object]) -> tuple[str, str]:
    """(HTML, Content-Security-Policy): the inline script and style run by nonce only."""
    nonce = secrets.token_urlsafe(16)
    safe = {key: html.escape(str(value)) if isinstance(value, str) else value
            for key, value in values.items()}
    policy = (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
              "img-src blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
              "frame-ancestors 'none'")
    return _TEMPLATE.format(nonce=nonce, **safe), policy
