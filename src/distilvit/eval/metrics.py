"""COCO caption metrics through pycocoevalcap, and the rate of gendered captions.

`caption_metrics` is the COCO caption evaluation: captions PTB-tokenised, then BLEU-1..4,
METEOR, ROUGE-L and CIDEr(-D) from pycocoevalcap's own scorers, SPICE on request. Java runs
the tokeniser, METEOR and SPICE; without it the numbers that need no Java are still given (on
a Python tokenisation, `eval.tokenize`), and METEOR is None. See docs/metrics.md.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Hashable, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from distilvit.errors import DistilvitError
from distilvit.words.lexicons import lexicon

if TYPE_CHECKING:
    from pycocoevalcap.meteor.meteor import Meteor

__all__ = ["MetricError", "caption_metrics", "gendered_rate", "one_meteor"]

logger = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
Captions = dict[Any, list[str]]  # image id -> tokenised captions, pycocoevalcap's input shape
_kept = threading.local()  # .state: the METEOR JVM a `one_meteor()` block shares, per thread


class MetricError(DistilvitError):
    """Captions that cannot be scored, or a metric that cannot run on this machine."""


def caption_metrics(predictions: Mapping[K, str], references: Mapping[K, Sequence[str]],
                    spice: bool = False, meteor: bool = True) -> dict[str, float | None]:
    """Corpus-level COCO metrics of one predicted caption per image against its references.

    Keys: bleu1..bleu4, meteor, rougeL, cider, spice (only when asked), mean_length (words
    per predicted caption, split on whitespace before tokenising) and n_images (an int).
    Images are the prediction keys; references of other images are ignored. `meteor` is None
    without Java or with `meteor=False` (which saves METEOR's JVM start, several seconds);
    `cider` is None for a single image (its IDF is zero for every n-gram).
    """
    refs = _references_for(predictions, references)
    java = _tokenize_module().find_java()
    if java is None:
        if spice:
            raise MetricError("SPICE needs Java: install a Java runtime (java on PATH)")
        logger.warning("java not found on PATH: captions are tokenised by a Python mimic of "
                       "PTBTokenizer and METEOR is reported as None")
    # METEOR spends seconds loading its paraphrase table: start it before the other work.
    kept = getattr(_kept, "state", None)
    scorer = _meteor_for(kept) if java is not None and meteor else None
    scores: dict[str, Any] = {}
    try:
        gts, res = _tokenised(predictions, refs, java)
        scores = _pure_python_scores(gts, res)
        scores["meteor"] = _meteor_score(scorer, gts, res) if scorer is not None else None
    finally:
        if scorer is not None and (kept is None or scores.get("meteor") is None):
            _close_meteor(scorer)  # a failed JVM is not kept: the next call starts its own
            if kept is not None:
                kept["scorer"] = None
    if spice:
        scores["spice"] = _spice_score(gts, res)
    scores["mean_length"] = sum(len(p.split()) for p in predictions.values()) / len(res)
    scores["n_images"] = len(res)
    order = ["bleu1", "bleu2", "bleu3", "bleu4", "meteor", "rougeL", "cider", "spice",
             "mean_length", "n_images"]
    return {key: scores[key] for key in order if key in scores}


def gendered_rate(captions: Sequence[str]) -> float:
    """Fraction of captions with at least one gendered word (`words.lexicons.GENDER`)."""
    if not captions:
        raise MetricError("gendered_rate needs at least one caption")
    gender = lexicon("gender")
    return sum(1 for caption in captions if gender.find(caption)) / len(captions)


def _tokenize_module() -> ModuleType:
    """`eval.tokenize`, which imports pycocoevalcap: an optional dependency (the train extra)."""
    try:
        from distilvit.eval import tokenize
    except ImportError as exc:
        raise MetricError(f"caption metrics need pycocoevalcap ({exc}): "
                          "pip install 'distilvit[train]'") from exc
    return tokenize


def _references_for(predictions: Mapping[K, str],
                    references: Mapping[K, Sequence[str]]) -> dict[K, list[str]]:
    """Each predicted image's non-blank references; one clear error for unusable input."""
    if not predictions:
        raise MetricError("no predictions to score")
    missing = [image for image in predictions if image not in references]
    if missing:
        raise MetricError(f"{len(missing)} predicted image(s) have no references, "
                          f"e.g. {missing[:3]}; score only images that have reference captions")
    refs = {}
    for image in predictions:
        if isinstance(references[image], str):
            raise MetricError(f"references of image {image!r} must be a list of captions, "
                              "not one string")
        refs[image] = [r for r in references[image] if r.strip()]
    return refs


def _tokenised(predictions: Mapping[K, str], refs: dict[K, list[str]],
               java: str | None) -> tuple[Captions, Captions]:
    """(references, predictions) PTB-tokenised in one pass, in pycocoevalcap's dict shape."""
    images = list(refs)
    flat = [predictions[i] for i in images] + [r for i in images for r in refs[i]]
    tokens = iter(_tokenize_module().ptb_tokenize(flat, java))
    res = {image: [next(tokens)] for image in images}
    gts = {image: [t for t in (next(tokens) for _ in refs[image]) if t] for image in images}
    empty = [image for image in images if not gts[image]]
    if empty:
        raise MetricError(f"{len(empty)} image(s) have no reference caption with words, "
                          f"e.g. {empty[:3]}; drop them or fix their references")
    return gts, res


def _pure_python_scores(gts: Captions, res: Captions) -> dict[str, float | None]:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.rouge.rouge import Rouge

    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    rouge, _ = Rouge().compute_score(gts, res)
    scores: dict[str, float | None] = {f"bleu{n + 1}": float(b) for n, b in enumerate(bleu)}
    scores["rougeL"] = float(rouge)
    scores["cider"] = _cider_score(gts, res)
    return scores


def _cider_score(gts: Captions, res: Captions) -> float | None:
    # CIDEr weighs n-grams by log(#images / #images whose references hold it) (Vedantam et
    # al. 2015): over one image every weight is log(1/1) = 0 and the score is always 0.
    if len(res) < 2:
        logger.warning("CIDEr needs at least 2 images (its IDF is 0 over one); reported as None")
        return None
    from pycocoevalcap.cider.cider import Cider

    score, _ = Cider().compute_score(gts, res)
    return float(score)


@contextlib.contextmanager
def one_meteor() -> Iterator[None]:
    """`caption_metrics` calls in this block (same thread) share one METEOR JVM.

    Starting METEOR costs seconds per call (its paraphrase table); scoring several caption
    sets, e.g. an export's variants against torch, pays it once. METEOR scores each call's
    captions on their own, so the numbers are those of separate calls (tests/test_metrics.py).
    The JVM starts on first use and is closed when the outermost block ends.
    """
    if getattr(_kept, "state", None) is not None:  # nested: the outer block owns the JVM
        yield
        return
    _kept.state = state = {"scorer": None}
    try:
        yield
    finally:
        _kept.state = None
        if state["scorer"] is not None:
            _close_meteor(state["scorer"])


def _meteor_for(kept: dict[str, Any] | None) -> Meteor | None:
    """The block's shared METEOR (started now if it has none yet), else a new one."""
    if kept is None:
        return _start_meteor()
    if kept["scorer"] is None:
        kept["scorer"] = _start_meteor()
    return kept["scorer"]


def _start_meteor() -> Meteor | None:
    """pycocoevalcap's METEOR: a JVM kept open on pipes, loading in the background."""
    from pycocoevalcap.meteor.meteor import Meteor

    try:
        return Meteor()
    except OSError as exc:
        logger.warning("METEOR could not start (%s); reported as None", exc)
        return None


def _meteor_score(meteor: Meteor, gts: Captions, res: Captions) -> float | None:
    # METEOR's line protocol separates fields with "|||": keep it out of the captions.
    def clean(captions: Captions) -> Captions:
        return {i: [c.replace("|||", " ") for c in cs] for i, cs in captions.items()}

    try:
        score, _ = meteor.compute_score(clean(gts), clean(res))
    except (OSError, ValueError) as exc:  # the JVM died: an empty line does not parse
        logger.warning("METEOR failed (%s); reported as None", exc)
        return None
    return float(score)


def _close_meteor(meteor: Meteor) -> None:
    """End METEOR's JVM now, not whenever the garbage collector gets to it."""
    process = meteor.meteor_p
    process.kill()
    process.wait()
    for stream in (process.stdin, process.stdout, process.stderr):
        with contextlib.suppress(OSError):
            stream.close()
    # A compute_score that raised still holds the lock, and Meteor.__del__ takes it: give
    # __del__ a free one (its kill and wait are no-ops now).
    meteor.lock = threading.Lock()


def _spice_score(gts: Captions, res: Captions) -> float:
    """SPICE, or one line saying why not (it fetches Stanford CoreNLP on first use)."""
    from pycocoevalcap.spice import spice as spice_module

    try:
        score, _ = spice_module.Spice().compute_score(gts, res)
    except Exception as exc:  # a download, a JVM or a parse failure: all end the same way
        lib = Path(spice_module.__file__).with_name("lib")
        raise MetricError(
            f"SPICE failed ({type(exc).__name__}: {exc}). It needs Stanford CoreNLP 3.6.0, "
            f"which pycocoevalcap downloads into {lib} on first use (network needed once), "
            "and 8 GB of Java heap; run without SPICE otherwise") from exc
    return float(score)
