"""The Gradio demo: image in, caption out, with the REST API's backend, limits and batching.

Uploads go through the same checks as `POST /caption` (`distilvit.serve.inputs`) and the
same micro-batcher, so the demo refuses what the API refuses, and concurrent users share
model calls. Example images are scenes from the embedded synthetic `shapes` test split.

Gradio phones home unless told not to (analytics, a version check on start, share tunnels,
huggingface_hub telemetry): `offline_environment` turns all of that off before Gradio is
imported, and the demo is built with `analytics_enabled=False`, `share=False` and no
server-side rendering (which needs Node).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from distilvit.config import ShapesConfig
from distilvit.serve.app import ServeState, start_state
from distilvit.serve.backend import Backend
from distilvit.serve.config import BatchConfig, GradioConfig, LimitsConfig
from distilvit.serve.inputs import ApiError, Upload, check_options, open_upload

OFFLINE_ENV = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1",
               "GRADIO_SHARE": "False"}


def offline_environment() -> None:
    """Set before `import gradio`: some of these are read at import or launch time."""
    os.environ.update(OFFLINE_ENV)
    # huggingface_hub (gradio and gradio_client use it) reads its switches once, on import;
    # the CLI imports it (through transformers) before this runs. Unless telemetry is off it
    # sends telemetry and fetches an "agent" registry from the Hub for its User-Agent header.
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        constants.HF_HUB_DISABLE_TELEMETRY = True


def example_images(folder: Path, count: int) -> list[str]:
    """The first `count` scenes of the shapes test split, written as PNG files."""
    from distilvit.data.synthetic import make_example

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = folder / f"shapes-test-{index}.png"
        make_example("test", index, ShapesConfig()).image.save(path)
        paths.append(str(path))
    return paths


class CaptionHandler:
    """The demo's one event: a file path and two options in, a caption out."""

    def __init__(self, state: ServeState):
        self.state = state

    def __call__(self, path: str | None, num_beams: float, max_new_tokens: float) -> str:
        import gradio as gr

        if not path:
            raise gr.Error("upload an image first")
        options = {"num_beams": int(num_beams), "max_new_tokens": int(max_new_tokens)}
        try:
            data = Path(path).read_bytes()
            if len(data) > self.state.limits.max_upload_bytes:
                raise ApiError(413, f"file over the server's {self.state.limits.max_upload_mb:g}"
                                    " MB limit")
            check_options(options, self.state.limits)
            image = open_upload(Upload(Path(path).name, data), self.state.limits)
            return self.state.caption([image], options)[0].value
        except ApiError as exc:
            raise gr.Error(exc.message) from None


def build_demo(state: ServeState, examples: list[str]) -> Any:
    offline_environment()
    import gradio as gr

    limits, defaults = state.limits, dict(state.options({}))
    info = state.backend.description
    with gr.Blocks(analytics_enabled=False, title="distilvit captions") as demo:
        gr.Markdown(f"## distilvit captions\nModel **{info['model']}** ({info['backend']}); "
                    f"base models {info['base_models']['vision']} + "
                    f"{info['base_models']['language']}.")
        with gr.Row():
            image = gr.Image(type="filepath", label="image", sources=["upload", "clipboard"])
            with gr.Column():
                caption = gr.Textbox(label="caption", interactive=False)
                beams = gr.Slider(1, limits.max_num_beams, value=defaults["num_beams"], step=1,
                                  label="beams")
                tokens = gr.Slider(1, limits.max_new_tokens_limit, step=1,
                                   value=defaults["max_new_tokens"], label="max new tokens")
                button = gr.Button("Caption", variant="primary")
        if examples:
            gr.Examples(examples=examples, inputs=image, label="synthetic shapes scenes")
        button.click(CaptionHandler(state), inputs=[image, beams, tokens], outputs=caption,
                     api_name="caption", concurrency_limit=state.batching.max_batch_size)
    demo.queue(max_size=state.batching.queue_size)
    return demo


def launch(backend: Backend, gradio: GradioConfig, limits: LimitsConfig,
           batching: BatchConfig, block: bool = True) -> tuple[Any, ServeState]:
    """Start the demo; with block=False it serves on a background thread (tests)."""
    state = start_state(backend, limits, batching)
    folder = Path(tempfile.mkdtemp(prefix="distilvit-gradio-examples-"))
    demo = build_demo(state, example_images(folder, gradio.examples))
    demo.launch(server_name=gradio.host, server_port=gradio.port, share=False,
                max_file_size=limits.max_upload_bytes, allowed_paths=[str(folder)],
                prevent_thread_lock=not block, show_error=True, quiet=not block,
                ssr_mode=False, inbrowser=False, enable_monitoring=False, mcp_server=False,
                pwa=False)
    return demo, state
