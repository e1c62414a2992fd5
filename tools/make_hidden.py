#!/usr/bin/env python3
"""Makes the host hidden states of the published Stage 0.75 run, in
kvcert's format: a safetensors file with one BF16 tensor "hidden" of shape
[P, S, 4096] (SPEC.md 1.2). Documentation-grade: not part of kvcert's tests.

    python3 tools/make_hidden.py --passages passages.txt \
        --out stage075_hidden_n8.safetensors

What the published run did (its benchmarks/dsv4_stage075/run_stage075_n8.py,
described here, not copied):
  * host model Qwen/Qwen2-0.5B, loaded in bf16; only its input embedding
    table (embed_tokens, 896 wide) is used;
  * each passage's text is repeated 8 times and tokenized to exactly S = 2048
    tokens (padding to max_length, truncation), batch 1;
  * the token embeddings (bf16) are multiplied by a 4096 x 896 bf16 matrix
    W (hidden = embeddings . W^T), where W = randn(4096, 896) drawn in bf16 on
    the CUDA device right after seeding the generators with 20260425,
    scaled by 896^-0.5; the same W serves all passages;
  * the result, bf16 [1, 2048, 4096] per passage, enters V4's layers.

W comes from PyTorch's CUDA random generator, so only a CUDA device (and
a PyTorch close to the study's) reproduces it; on a CPU the script refuses
unless --allow-cpu is given, and then the file is not the published one.
The digest of the file therefore cannot be known in advance: pin it with
`kvcert certify --pin v4flash-stage075` (conformance/README.md).

passages.txt: the 8 passages, one per line, in the study's order (the
PASSAGES list of its run_stage075_n8.py). Needs: torch, transformers.
"""
import argparse
import hashlib
import json
import struct
import sys


def write_safetensors(path, name, tensor_bf16, metadata):
    """One BF16 tensor; header JSON padded with spaces to 8 bytes."""
    import torch
    data = tensor_bf16.contiguous().cpu().view(torch.int16).numpy().astype("<i2").tobytes()
    header = {"__metadata__": metadata,
              name: {"dtype": "BF16", "shape": list(tensor_bf16.shape),
                     "data_offsets": [0, len(data)]}}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        f.write(data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--passages", required=True, help="text file, one passage per line")
    ap.add_argument("--out", required=True)
    ap.add_argument("--host-model", default="Qwen/Qwen2-0.5B")
    ap.add_argument("--seqlen", type=int, default=2048)
    ap.add_argument("--hidden", type=int, default=4096)
    ap.add_argument("--seed", type=int, default=20260425)
    ap.add_argument("--repeat", type=int, default=8, help="times each passage is repeated")
    ap.add_argument("--allow-cpu", action="store_true",
                    help="run without CUDA (the projection then differs from the published one)")
    args = ap.parse_args()

    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    passages = [line.rstrip("\n") for line in open(args.passages, encoding="utf-8") if line.strip()]
    if not passages:
        sys.exit("no passages in %s" % args.passages)
    if torch.cuda.is_available():
        device = "cuda"
    elif args.allow_cpu:
        device = "cpu"
        print("warning: no CUDA device: the projection matrix will not be the published one",
              file=sys.stderr)
    else:
        sys.exit("the published projection matrix is drawn by the CUDA generator: run on a CUDA "
                 "device (or pass --allow-cpu for a file that is not the published one)")

    tok = AutoTokenizer.from_pretrained(args.host_model)
    model = AutoModelForCausalLM.from_pretrained(args.host_model, torch_dtype=torch.bfloat16).to(device)
    model.eval()
    width = model.config.hidden_size  # 896 for Qwen2-0.5B

    devices = [torch.cuda.current_device()] if device == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(args.seed)
        if device == "cuda":
            torch.cuda.manual_seed(args.seed)
        proj = torch.randn(args.hidden, width, device=device, dtype=torch.bfloat16) * width ** -0.5

    out = []
    with torch.inference_mode():
        embed = model.get_input_embeddings()
        for i, text in enumerate(passages):
            ids = tok([text * args.repeat], return_tensors="pt", padding="max_length",
                      truncation=True, max_length=args.seqlen)["input_ids"].to(device)
            h = torch.nn.functional.linear(embed(ids).to(torch.bfloat16), proj)
            out.append(h[0])
            print("passage %d: %s tokens -> %s" % (i, tuple(ids.shape), tuple(h.shape)),
                  file=sys.stderr)
    hidden = torch.stack(out)  # [P, S, 4096] bf16

    meta = {"format": "pt", "generator": "kvcert tools/make_hidden.py",
            "host_model": args.host_model, "seed": str(args.seed), "passages": str(len(passages)),
            "seqlen": str(args.seqlen), "repeat": str(args.repeat), "device": device,
            "torch": torch.__version__, "transformers": transformers.__version__}
    if device == "cuda":
        meta["device_name"] = torch.cuda.get_device_name()
    write_safetensors(args.out, "hidden", hidden, meta)
    sha = hashlib.sha256(open(args.out, "rb").read()).hexdigest()
    print("%s: hidden %s bf16, sha256 %s" % (args.out, list(hidden.shape), sha))


if __name__ == "__main__":
    main()
