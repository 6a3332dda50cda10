"""Which graph and which layers make a quantized variant drift from fp32.

    python bench/quantize_sensitivity.py EXPORT_DIR [--variant int8] [--samples 200]
        [--layer-images 8] [--quantized-from DIR] [--eight-bit-nodes lm_head,/mlp/]
        [--block 64] [--accuracy-level 4] [--output runs/bench/quantize_sensitivity.json]

EXPORT_DIR is a llava-layout export (its fp32 graphs are read). The variant's graphs are made
with today's recipe (distilvit.export.quantize), or taken from `--quantized-from DIR`, an
export made with another recipe (e.g. an older distilvit). Two measurements:

1. graphs: the variant's graphs swapped in one at a time,
   the other graphs kept fp32, then all of them (`all`: the variant as shipped); per row, the
   share of greedy captions identical to fp32's, the attribute-accuracy change on `--samples`
   shapes test images and the variant's graph sizes (MB);
2. layers: the decoder with every MatMul quantized; per MatMul, the relative error
   ||quantized - fp32|| / ||fp32|| of its output on the prompt (prefill) of
   `--layer-images` images. Errors compound through the layers; the jumps point at the
   sensitive ones.

`--eight-bit-nodes` replaces the q4 recipe's EIGHT_BIT_NODES (which MatMuls, by name part,
stay at 8 bits; the others are stored in 4) for this run, to compare recipes on one model. The
LM head stays at 8 bits whatever it says (the recipe keeps every logit MatMul there).
The q4 graphs are made from the export's fp32 (merged) decoder, not from the unmerged trace
that `distilvit export` uses: compare with `--quantized-from` an export's own q4 files.

`--block` replaces BLOCK (rows per scale) and `--accuracy-level` sets MatMulNBits'
`accuracy_level` on every quantized MatMul of the graphs made here (4: activations quantized to
int8 per block, ONNX Runtime's fast kernels on x86/ARM CPUs), to measure what either would cost.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from distilvit.config import ShapesConfig
from distilvit.data.synthetic import make_example
from distilvit.eval.attributes import attribute_scores
from distilvit.export import quantize
from distilvit.export.quantize import make_variant
from distilvit.ort import OnnxCaptioner
from distilvit.ort.files import GRAPHS, graph_file


def scenes(n: int) -> tuple[list, list]:
    examples = [make_example("test", i, ShapesConfig()) for i in range(n)]
    return [e.image for e in examples], [e.extra["objects"] for e in examples]


def captions(folder: Path, variant: str, images: list) -> list[str]:
    model = OnnxCaptioner(folder, variant)
    return [c for start in range(0, len(images), 32)
            for c in model.caption(images[start:start + 32])]


ACCURACY_LEVEL = 0  # MatMulNBits' accuracy_level in the graphs made here (--accuracy-level)


def variant_graph(export_dir: Path, graph: str, variant: str, target: Path,
                  quantized_from: Path | None) -> Path:
    """`graph` of `variant`: made into `target`, or the file in `quantized_from`."""
    if quantized_from is not None:
        return quantized_from / graph_file(graph, variant)
    make_variant(export_dir / graph_file(graph, "fp32"), target, graph, variant)
    if ACCURACY_LEVEL:
        set_accuracy_level(target, ACCURACY_LEVEL)
    return target


def set_accuracy_level(path: Path, level: int) -> None:
    import onnx

    model = onnx.load(str(path))
    for node in model.graph.node:
        if node.op_type == "MatMulNBits":
            kept = [a for a in node.attribute if a.name != "accuracy_level"]
            del node.attribute[:]
            node.attribute.extend([*kept, onnx.helper.make_attribute("accuracy_level", level)])
    onnx.save(model, str(path))


def one_graph_folder(export_dir: Path, scratch: Path, graphs: tuple[str, ...], variant: str,
                     quantized_from: Path | None = None) -> Path:
    """A copy of the export whose `variant` files are fp32 except `graphs`, quantized."""
    folder = scratch / f"{variant}-{'-'.join(graphs)}"
    shutil.copytree(export_dir, folder, ignore=shutil.ignore_patterns("*.onnx", "*.onnx_data"))
    for g in GRAPHS:
        source = export_dir / graph_file(g, "fp32")
        os.symlink(source.resolve(), folder / graph_file(g, "fp32"))
        target = folder / graph_file(g, variant)
        if g in graphs:
            made = variant_graph(export_dir, g, variant, target, quantized_from)
            if made != target:
                os.symlink(made.resolve(), target)
        else:
            os.symlink(source.resolve(), target)
    return folder


def graph_sensitivity(export_dir: Path, variant: str, n: int,
                      quantized_from: Path | None = None,
                      rows: tuple[str, ...] = (*GRAPHS, "all")) -> dict:
    images, truth = scenes(n)
    reference = captions(export_dir, "fp32", images)
    base = attribute_scores(reference, truth)["attribute_accuracy"]
    out = {"images": n, "fp32_attribute_accuracy": base}
    with tempfile.TemporaryDirectory() as scratch:
        for label in rows:
            graphs = GRAPHS if label == "all" else (label,)
            folder = one_graph_folder(export_dir, Path(scratch), graphs, variant,
                                      quantized_from)
            got = captions(folder, variant, images)
            out[label] = {
                "identical": sum(a == b for a, b in zip(got, reference, strict=True)) / n,
                "attribute_change": attribute_scores(got, truth)["attribute_accuracy"] - base,
                "mb": {g: round((folder / graph_file(g, variant)).stat().st_size / 1e6, 1)
                       for g in graphs}}
            print(f"{variant} on {label}: {out[label]}", flush=True)
    return out


def decoder_feeds(export_dir: Path, n: int) -> dict[str, np.ndarray]:
    """The decoder's prefill inputs for `n` test scenes (recorded from a real run)."""
    model = OnnxCaptioner(export_dir, "fp32")
    session = model.sessions["decoder_model_merged"]
    recorded: dict = {}

    class Recorder:
        def run(self, names, feeds):
            recorded.update(feeds)
            return session.run(names, feeds)

        def __getattr__(self, name):
            return getattr(session, name)

    model.sessions["decoder_model_merged"] = Recorder()
    model.prefill(model.preprocess(scenes(n)[0]))
    return recorded


def with_outputs(path: Path, names: list[str], target: Path) -> None:
    import onnx

    model = onnx.load(str(path))
    model.graph.output.extend(onnx.helper.make_empty_tensor_value_info(n) for n in names)
    onnx.save(model, str(target))


def layer_errors(export_dir: Path, variant: str, n: int,
                 quantized_from: Path | None = None) -> dict[str, float]:
    import onnx
    import onnxruntime as ort

    fp32 = export_dir / graph_file("decoder_model_merged", "fp32")
    with tempfile.TemporaryDirectory() as scratch:
        quantized = variant_graph(export_dir, "decoder_model_merged", variant,
                                  Path(scratch) / "q.onnx", quantized_from)
        names = [node.output[0] for node in onnx.load(str(fp32)).graph.node
                 if node.op_type == "MatMul"]
        present = {o for node in onnx.load(str(quantized)).graph.node for o in node.output}
        names = [name for name in names if name in present]
        outputs = {}
        for label, path in (("fp32", fp32), ("q", quantized)):
            probe = Path(scratch) / f"{label}-probe.onnx"
            with_outputs(path, names, probe)
            session = ort.InferenceSession(str(probe), providers=["CPUExecutionProvider"])
            outputs[label] = dict(zip(names, session.run(names, decoder_feeds(export_dir, n)),
                                      strict=True))
    return {name: float(np.linalg.norm(outputs["q"][name] - outputs["fp32"][name])
                        / (np.linalg.norm(outputs["fp32"][name]) + 1e-12)) for name in names}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("export_dir", type=Path)
    parser.add_argument("--variant", default="int8", choices=["int8", "q4"])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--layer-images", type=int, default=8)
    parser.add_argument("--quantized-from", type=Path, metavar="DIR",
                        help="take the variant's graphs from this export instead of making them")
    parser.add_argument("--skip-graphs", action="store_true", help="layer errors only")
    parser.add_argument("--skip-layers", action="store_true", help="graph rows only")
    parser.add_argument("--rows", default=",".join((*GRAPHS, "all")),
                        help="graph rows to measure, comma-separated (default: %(default)s)")
    parser.add_argument("--eight-bit-nodes", metavar="PARTS",
                        help="comma-separated name parts of the MatMuls q4 keeps at 8 bits "
                             f"(default {','.join(quantize.EIGHT_BIT_NODES)}; the LM head "
                             "stays at 8 in any case)")
    parser.add_argument("--block", type=int, choices=[16, 32, 64, 128, 256],
                        help=f"rows per scale (default {quantize.BLOCK})")
    parser.add_argument("--accuracy-level", type=int, choices=[0, 1, 2, 3, 4], default=0,
                        help="MatMulNBits accuracy_level of the graphs made (default 0)")
    parser.add_argument("--output", type=Path,
                        default=Path("runs/bench/quantize_sensitivity.json"))
    args = parser.parse_args(argv)
    global ACCURACY_LEVEL
    ACCURACY_LEVEL = args.accuracy_level
    if args.eight_bit_nodes:
        quantize.EIGHT_BIT_NODES = tuple(args.eight_bit_nodes.split(","))
    if args.block:
        quantize.BLOCK = args.block
    result = {"variant": args.variant, "recipe": str(args.quantized_from or "current"),
              "eight_bit_nodes": list(quantize.EIGHT_BIT_NODES), "block": quantize.BLOCK,
              "accuracy_level": ACCURACY_LEVEL}
    if not args.skip_graphs:
        result["graphs"] = graph_sensitivity(args.export_dir, args.variant, args.samples,
                                             args.quantized_from, tuple(args.rows.split(",")))
    if not args.skip_layers:
        errors = layer_errors(args.export_dir, args.variant, args.layer_images,
                              args.quantized_from)
        result["layers"] = errors
        for name, error in sorted(errors.items(), key=lambda kv: -kv[1])[:15]:
            print(f"  {error:.4f}  {name}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
