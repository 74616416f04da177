"""The learned layer: a classifier over sentence embeddings, stacked on the rule coder's outputs.

The rules find triggers, roles, places, dates and evidence spans; this layer says, for each sentence, which
PLOVER type (or no event) the sentence reports, from what the sentence means *and* what the rules found. The
pipeline then keeps, retypes or drops each rule event, and codes an event the rules missed on the sentence's
main verb — the roles still come from the rule machinery, so every field keeps its evidence span.

Inference needs only numpy, onnxruntime and tokenizers (no torch): the encoder is an int8 ONNX export of
all-MiniLM-L6-v2 with mean pooling in the graph (``models/encoder``), the heads are a weight matrix, a bias,
an isotonic calibration curve and a policy, in ``head.npz`` + ``head.json`` (``models/plover``, or a
directory written by ``tidings train``). Training the heads needs scikit-learn (``tidings[train]``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidings.core.errors import TidingsError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["DEFAULT_MODEL_DIR", "ENCODER_DIR", "NONE", "Encoder", "Head", "LearnedCoder", "Verdict", "decide",
           "load_head", "reliability"]

MODELS_DIR = Path(str(resources.files("tidings") / "models"))
ENCODER_DIR = MODELS_DIR / "encoder"
DEFAULT_MODEL_DIR = MODELS_DIR / "plover"
#: The label of a sentence that reports no codable event.
NONE = "NONE"
#: Error code of a model directory that cannot be used.
MODEL_UNUSABLE = "E501"


class ModelError(TidingsError):
    """A model directory that is missing, incomplete or of another format."""


@lru_cache(maxsize=4)
def plover_types(data_dir: Path | None = None) -> tuple[str, ...]:
    """The 16 PLOVER types, in the order of ``data/plover.json`` (read once: the API checks every request)."""
    from tidings.core.codebook import codebook

    return codebook(data_dir).types


# --- encoder ----------------------------------------------------------------------------------------

class Encoder:
    """Sentence vectors from the packaged int8 ONNX MiniLM (mean pooled, L2-normalised). Loads on first use."""

    def __init__(self, directory: Path = ENCODER_DIR, batch_size: int = 32) -> None:
        self.directory = directory
        self.batch_size = batch_size
        self._session: Any = None
        self._tokenizer: Any = None
        meta_path = directory / "encoder.json"
        self.meta = json.loads(meta_path.read_text("utf-8")) if meta_path.exists() else {}
        self.max_tokens = int(self.meta.get("max_tokens", 128))
        self.dim = int(self.meta.get("dim", 384))

    def _load(self) -> None:
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - both are core dependencies
            raise ModelError(f"the learned coder needs onnxruntime and tokenizers ({exc})",
                             code=MODEL_UNUSABLE) from exc
        model = self.directory / "model.onnx"
        if not model.exists():
            raise ModelError(f"no encoder at {model}", code=MODEL_UNUSABLE)
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        tokenizer = Tokenizer.from_file(str(self.directory / "tokenizer.json"))
        tokenizer.enable_truncation(self.max_tokens)
        tokenizer.no_padding()
        self._tokenizer = tokenizer

    def width(self, output: str = "embedding") -> int:
        return int(self.meta.get("outputs", {}).get(output, self.dim))

    def encode(self, texts: Sequence[str], output: str = "embedding") -> np.ndarray:
        """One row per text; batches are formed from texts of similar length, so padding costs little.

        ``embedding`` is the mean-pooled sentence vector, L2-normalised; a fine-tuned encoder also has
        ``plover``, its classifier's probabilities over ``encoder.json``'s ``plover_labels``.
        """
        import numpy as np

        if not texts:
            return np.zeros((0, self.width(output)), dtype=np.float32)
        if self._session is None:
            self._load()
        encodings = self._tokenizer.encode_batch([t if t.strip() else "." for t in texts])
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.zeros((len(texts), self.width(output)), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            width = max(len(encodings[i].ids) for i in chunk)
            ids = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            for row, i in enumerate(chunk):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            (vectors,) = self._session.run([output], {"input_ids": ids, "attention_mask": mask,
                                                      "token_type_ids": np.zeros_like(ids)})
            out[chunk] = vectors
        if output != "embedding":
            return out
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)


@lru_cache(maxsize=2)
def shared_encoder(directory: Path = ENCODER_DIR) -> Encoder:
    return Encoder(directory)


# --- heads ------------------------------------------------------------------------------------------

@dataclass
class Head:
    """A linear classifier over ``[sentence vector, rule features]`` with a calibration curve.

    ``rule_types`` is the vocabulary of rule features: for each type, "a rule event of this type is the
    candidate" and "the sentence has a rule event of this type", plus "the rules found nothing". An empty
    vocabulary means a head over the sentence vector alone (user heads trained without ``--rules``).
    """

    labels: list[str]
    weights: np.ndarray            # (n_features, n_labels)
    bias: np.ndarray               # (n_labels,)
    rule_types: list[str] = field(default_factory=list)
    calibration: tuple[list[float], list[float]] | None = None
    policy: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    encoder: str = "encoder"
    #: Which encoder output the head reads: ``embedding``, or ``plover`` (a fine-tuned classifier's output).
    input: str = "embedding"

    @property
    def uses_rules(self) -> bool:
        return bool(self.rule_types)

    @property
    def is_event_coder(self) -> bool:
        """A head the pipeline can use as its event coder: stacked on the rules, predicting PLOVER types or
        NONE (a head of another label set only labels texts: ``tidings eval classify --model``)."""
        return self.uses_rules and set(self.labels) <= {*plover_types(), NONE}

    def features(self, vectors: np.ndarray, candidates: Sequence[str | None],
                 found: Sequence[Sequence[str]]) -> np.ndarray:
        """Rows of ``[vector, one-hot candidate rule type, rule types of the sentence, rules found nothing]``."""
        import numpy as np

        if not self.uses_rules:
            return vectors
        index = {t: i for i, t in enumerate(self.rule_types)}
        n = len(self.rule_types)
        extra = np.zeros((len(vectors), 2 * n + 1), dtype=np.float32)
        for row, (candidate, types) in enumerate(zip(candidates, found, strict=True)):
            if candidate in index:
                extra[row, index[candidate]] = 1.0
            for t in types:
                if t in index:
                    extra[row, n + index[t]] = 1.0
            if not types:
                extra[row, 2 * n] = 1.0
        return np.hstack([vectors, extra])

    def proba(self, features: np.ndarray) -> np.ndarray:
        import numpy as np

        logits = features @ self.weights + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def calibrate(self, probability: float) -> float:
        """The isotonic map from the top probability to how often it was right on held-out folds."""
        if self.calibration is None:
            return probability
        import numpy as np

        xs, ys = self.calibration
        return float(np.interp(probability, xs, ys))

    def save(self, directory: Path) -> None:
        import numpy as np

        directory.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(directory / "head.npz", weights=self.weights.astype(np.float32),
                            bias=self.bias.astype(np.float32))
        card = {"format": "tidings-head/1", "labels": self.labels, "rule_types": self.rule_types,
                "calibration": list(self.calibration) if self.calibration else None, "policy": self.policy,
                "encoder": self.encoder, "input": self.input, **self.meta}
        (directory / "head.json").write_text(json.dumps(card, indent=1, ensure_ascii=False) + "\n", "utf-8")


def load_head(directory: Path | str) -> Head:
    """Read a head written by :meth:`Head.save` (``tidings train``, or the shipped ``models/plover``)."""
    import numpy as np

    directory = Path(directory)
    card_path, weights_path = directory / "head.json", directory / "head.npz"
    if not card_path.exists() or not weights_path.exists():
        raise ModelError(f"{directory} is not a tidings model directory (head.json and head.npz expected; "
                         "make one with `tidings train`)", code=MODEL_UNUSABLE)
    card = json.loads(card_path.read_text("utf-8"))
    if card.get("format") != "tidings-head/1":
        raise ModelError(f"{card_path}: unknown format {card.get('format')!r}", code=MODEL_UNUSABLE)
    arrays = np.load(weights_path)
    meta = {k: v for k, v in card.items()
            if k not in ("format", "labels", "rule_types", "calibration", "policy", "encoder", "input")}
    calibration = card.get("calibration")
    return Head(labels=list(card["labels"]), weights=arrays["weights"], bias=arrays["bias"],
                rule_types=list(card.get("rule_types") or []),
                calibration=(calibration[0], calibration[1]) if calibration else None,
                policy=dict(card.get("policy") or {}), meta=meta, encoder=card.get("encoder", "encoder"),
                input=card.get("input", "embedding"))


# --- applying a head to a document -----------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    """What the learned layer says of one candidate (a rule event, or a sentence the rules left empty)."""

    label: str                       # the top label: a type, or NONE
    probability: float               # calibrated probability of that label
    top: tuple[tuple[str, float], ...]  # the three most likely labels with their raw probabilities
    all: tuple[tuple[str, float], ...] = ()  # every label's raw probability

    def why(self) -> dict[str, Any]:
        return {"model": [[label, round(p, 3)] for label, p in self.top], "model_label": self.label,
                "model_probability": round(self.probability, 3)}

    def probability_of(self, label: str) -> float:
        """The model's probability of ``label`` (raw: the calibration curve is for the top label)."""
        return next((p for lab, p in self.all or self.top if lab == label), 0.0)


class LearnedCoder:
    """Loads a head (and its encoder) once; judges the candidates of one document in one encoder call."""

    def __init__(self, model_dir: Path | str | None = None) -> None:
        self.model_dir = Path(model_dir) if model_dir else DEFAULT_MODEL_DIR
        self.head = load_head(self.model_dir)
        local = self.model_dir / self.head.encoder
        self.encoder = shared_encoder(local if (local / "model.onnx").exists() else ENCODER_DIR)
        self.name = str(self.head.meta.get("name") or self.model_dir.name)
        # Decisions are data: how sure the model must be to drop, retype or add an event.
        self.drop_at = float(self.head.policy.get("drop", 0.5))
        self.retype_at = float(self.head.policy.get("retype", 0.5))
        self.add_at = float(self.head.policy.get("add", 0.6))

    def decide(self, rule_type: str | None, label: str, probability: float) -> str:
        """The type coded for one candidate, by this head's policy: see :func:`decide`."""
        return decide(rule_type, label, probability, self.drop_at, self.retype_at, self.add_at)

    def judge(self, texts: Sequence[str], candidates: Sequence[str | None],
              found: Sequence[Sequence[str]]) -> list[Verdict]:
        """One verdict per (sentence text, candidate rule type, rule types of the sentence)."""
        if not texts:
            return []
        return self.judge_vectors(self.encode(texts), candidates, found)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """What the head reads for each text (its encoder output)."""
        return self.encoder.encode(texts, self.head.input)

    def judge_vectors(self, vectors: np.ndarray, candidates: Sequence[str | None],
                      found: Sequence[Sequence[str]]) -> list[Verdict]:
        probs = self.head.proba(self.head.features(vectors, candidates, found))
        out = []
        for row in probs:
            order = row.argsort()[::-1][:3]
            top = tuple((self.head.labels[i], float(row[i])) for i in order)
            out.append(Verdict(label=top[0][0], probability=self.head.calibrate(top[0][1]), top=top,
                               all=tuple(zip(self.head.labels, (float(p) for p in row), strict=True))))
        return out


def decide(rule_type: str | None, label: str, probability: float, drop: float, retype: float, add: float) -> str:
    """What the pipeline codes for one candidate (``rule_type`` None: a sentence the rules left empty), given
    the model's top ``label`` and its calibrated ``probability``: a type, or NONE (drop / add nothing). The
    same rule chooses the thresholds in training (``training/train_coder.py``)."""
    if rule_type is None:
        return label if label != NONE and probability >= add else NONE
    if label == NONE:
        return NONE if probability >= drop else rule_type
    return label if label != rule_type and probability >= retype else rule_type


# --- measuring a head ------------------------------------------------------------------------------

def reliability(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> dict[str, Any]:
    """Reliability table (predicted vs observed per confidence bin) and expected calibration error."""
    rows = []
    total = len(confidences)
    ece = 0.0
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        members = [i for i, c in enumerate(confidences) if low <= c < high or (b == bins - 1 and c == 1.0)]
        if not members:
            continue
        predicted = sum(confidences[i] for i in members) / len(members)
        observed = sum(1 for i in members if correct[i]) / len(members)
        ece += len(members) / max(total, 1) * abs(predicted - observed)
        rows.append({"bin": f"{low:.1f}–{high:.1f}", "n": len(members), "predicted": round(predicted, 3),
                     "observed": round(observed, 3)})
    return {"bins": rows, "ece": round(ece, 4), "n": total}


def isotonic_curve(confidences: Sequence[float], correct: Sequence[bool],
                   points: int = 21) -> tuple[list[float], list[float]]:
    """A monotone map from the top probability to observed accuracy (scikit-learn's isotonic regression on
    held-out predictions), sampled at ``points`` knots so the model card stays small and readable."""
    import numpy as np
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    iso.fit(np.asarray(confidences, dtype=float), np.asarray(correct, dtype=float))
    knots = np.linspace(0.0, 1.0, points)
    return [round(float(x), 4) for x in knots], [round(float(y), 4) for y in iso.predict(knots)]
