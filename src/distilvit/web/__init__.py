"""The browser side: an ES module captioning with onnxruntime-web, the demo page, and the
static server that serves them with the headers threaded WASM needs (see docs/browser.md).

The `.js`, `.html` and `.css` files here are package data, used as they are (no build step).
"""
