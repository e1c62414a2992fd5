#!/usr/bin/env python3
"""Transcribes the figures kvcert's tests need from the published Stage 0.75
files into kvcert-report/1 (golden/README.md describes the format).

    python3 golden/published/transcribe.py ../shared/reference golden/published

This is how golden/published/stage075_n8.kvcert.json and
stage075_qsweep_n8.kvcert.json were made; it is kept for provenance and is
not run by the build. Numbers go through Python's json module, which writes
the shortest decimal that reads back to the same binary64, so every value
is transcribed exactly. The reference files themselves are never copied.
"""
import hashlib
import json
import os
import sys

CITATION = ("Stage 0.75 DeepSeek-V4-Flash KV-cache audit (KakeyaLattice E8/D4 vs "
            "FP8 per-64), n = 8 passages, run 2026-04-26 on NVIDIA H200; published "
            "as reports/v1_5_release/dsv4_stage075/{name} in github.com/FluffyAIcode/"
            "LLM-KV--Cache-compress (commit 1b08680a77100a744223f784d5809646d69376ec).")


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def source(ref_dir, name, note):
    path = os.path.join(ref_dir, name)
    return {"file": name, "sha256": sha256(path),
            "citation": CITATION.format(name=name), "note": note}


def options():
    return {"t_source": "published-table", "summation": "correctly-rounded",
            "layers": {"SWA": 3, "CSA": 20, "HCA": 20}}


def n8(ref_dir):
    name = "stage075_n8.json"
    with open(os.path.join(ref_dir, name)) as f:
        d = json.load(f)
    passages = []
    for pp in d["per_passage"]:
        results = []
        for r in pp["results"]:
            results.append({
                "stream": r["stream"],
                "audit": dict(r["audit"]),
                "codecs": {c: {"bits_per_vector": v["bits_per_vector"],
                               "rel_mse": v["rel_mse"], "cos_sim": v["cos_sim"]}
                           for c, v in r["codecs"].items()},
            })
        passages.append({"passage_id": pp["passage_id"], "results": results})
    return {
        "schema": "kvcert-report/1",
        "kind": "per-passage",
        "source": source(ref_dir, name,
                         "per-passage audit metrics and codec results of all 8 passages "
                         "(wall times, shapes and dtypes left out) and the published "
                         "aggregate_by_stream, which kvcert must reproduce bit for bit"),
        "generator": "golden/published/transcribe.py",
        "config": {"head_dim": d["config"]["dsv4_config"]["head_dim"],
                   "n_passages": d["config"]["n_passages"],
                   "q_values": d["config"]["q_values"]},
        "aggregate_options": options(),
        "per_passage": passages,
        "aggregate_by_stream": d["aggregate_by_stream"],
    }


def qsweep(ref_dir):
    name = "stage075_qsweep_n8.json"
    with open(os.path.join(ref_dir, name)) as f:
        d = json.load(f)
    c = d["config"]
    return {
        "schema": "kvcert-report/1",
        "kind": "q-sweep",
        "source": source(ref_dir, name,
                         "aggregates only (the file has no per-passage values): the "
                         "FP8 and per-Q E8 rel-MSE aggregates, the audit aggregates, "
                         "the solved thresholds and the bits per Q"),
        "generator": "golden/published/transcribe.py",
        "config": {"head_dim": c["head_dim"], "n_passages": c["n_passages"],
                   "q_values": c["q_values"],
                   "bits_fp8_per64_baseline": c["bits_fp8_per64_baseline"],
                   "bits_bf16_reference": c["bits_bf16_reference"]},
        "aggregate_options": options(),
        "bits_per_vec_by_q": d["bits_per_vec_by_q"],
        "aggregate_by_stream": d["aggregate_by_stream"],
    }


def main():
    ref_dir, out_dir = sys.argv[1], sys.argv[2]
    for fname, doc in (("stage075_n8.kvcert.json", n8(ref_dir)),
                       ("stage075_qsweep_n8.kvcert.json", qsweep(ref_dir))):
        with open(os.path.join(out_dir, fname), "w") as f:
            json.dump(doc, f, indent=1, ensure_ascii=False)
            f.write("\n")


if __name__ == "__main__":
    main()
