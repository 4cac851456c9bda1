#!/usr/bin/env python3
"""Print the table of scripts/bench/inference from the raw results in $BENCH_WORK."""

import json
import os
import sys

env = os.environ
work = env["BENCH_WORK"]


def load(name):
    path = os.path.join(work, name)
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def get(d, key):
    return None if d is None else num(d.get(key))


def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if v >= 100:
        return f"{v:,.0f}{unit}"
    if v >= 1:
        return f"{v:.1f}{unit}"
    return f"{v:.3f}{unit}"


lb_pp, lb_tg = num(env.get("BENCH_LB_PP")), num(env.get("BENCH_LB_TG"))
lb_tg_d = num(env.get("BENCH_LB_TG_D"))
ls_single, c_single = load("ls-single.json"), load("c-single.json")
ls_conc, c_conc, c1_conc = load("ls-conc.json"), load("c-conc.json"), load("c1-conc.json")
ls_shared, c_shared = load("ls-shared.json"), load("c-shared.json")
ls_ttft, c_ttft = load("ls-ttft.json"), load("c-ttft.json")
kib = lambda k: None if num(env.get(k)) is None else num(env.get(k)) / 1024  # noqa: E731
ls_rss, c_rss = kib("BENCH_LS_RSS"), kib("BENCH_C_RSS")
slots = env.get("BENCH_SLOTS_USED", "4")

# (what, anchor label, anchor value, commons label, commons value, ratio = commons/anchor,
#  target op, target)
rows = [
    ("prompt processing tok/s (512-token prompt)", "llama-bench pp512", lb_pp,
     "commons", get(c_single, "pp_tok_s"), ">=", 0.95),
    ("decode tok/s (128 tokens, single stream)", "llama-bench tg128", lb_tg,
     "commons", get(c_single, "tg_tok_s"), ">=", 0.95),
    ("  same, anchor at depth 512 (like commons)", "llama-bench tg128@d512", lb_tg_d,
     "commons", get(c_single, "tg_tok_s"), ">=", 0.95),
    ("8 clients x 128 tokens, aggregate tok/s", f"llama-server -np {slots}", get(ls_conc, "tok_s"),
     f"commons {slots} slots", get(c_conc, "tok_s"), ">=", 1.0),
    ("8 clients x 128 tokens, aggregate tok/s", "commons 1 slot", get(c1_conc, "tok_s"),
     f"commons {slots} slots", get(c_conc, "tok_s"), ">=", 2.5),
    ("TTFT, 1,000-token prefix: seen vs cold (s)", "commons cold", get(c_ttft, "cold_s"),
     "commons seen", get(c_ttft, "warm_s"), "<=", 0.2),
    ("8 clients, shared 500-token prefix, tok/s", f"llama-server -np {slots}", get(ls_shared, "tok_s"),
     f"commons {slots} slots", get(c_shared, "tok_s"), ">=", 1.5),
    ("VmRSS after one request (MiB)", "llama-server", ls_rss,
     "commons", c_rss, "<=", 1.10),
]

info = [
    ("llama-server single stream prompt tok/s", get(ls_single, "pp_tok_s")),
    ("llama-server single stream decode tok/s", get(ls_single, "tg_tok_s")),
    ("llama-server TTFT cold / seen prefix (s)",
     None if ls_ttft is None else f"{fmt(get(ls_ttft, 'cold_s'))} / {fmt(get(ls_ttft, 'warm_s'))}"),
    ("llama-server shared-prefix tok/s / distinct tok/s",
     None if ls_shared is None else f"{fmt(get(ls_shared, 'tok_s'))} / {fmt(get(ls_conc, 'tok_s'))}"),
    ("VmRSS at the end, llama-server / commons (MiB)",
     f"{fmt(kib('BENCH_LS_RSS_END'))} / {fmt(kib('BENCH_C_RSS_END'))}"),
]

print(f"model      {os.path.basename(env.get('BENCH_MODEL', 'SmolLM2-135M-Instruct.Q4_1.gguf'))}")
print(f"threads    {env.get('BENCH_THREADS_USED')} (both sides), slots {slots}, "
      f"context per slot {env.get('BENCH_CTX_USED')}")
print(f"anchor     llama.cpp {env.get('BENCH_ANCHOR_COMMIT', '?')} from llama-cpp-python {env.get('BENCH_ANCHOR_VERSION')} "
      f"[{env.get('BENCH_ANCHOR_FLAGS')}], llama-bench flash_attn={env.get('BENCH_LB_FA')} "
      f"n_ubatch={env.get('BENCH_LB_UB')}")
if env.get("BENCH_HAVE_COMMONS") != "1":
    print("commons    `commons serve` not available: commons columns are n/a")
elif not env.get("BENCH_SLOT_FLAG"):
    print("commons    no slot option found in `commons serve --help`: default slots, 1-slot run skipped")
print()
head = f"{'measurement':<44} {'anchor':<22} {'value':>9}  {'commons':<17} {'value':>9}  {'ratio':>7}  {'target':<8} result"
print(head)
print("-" * len(head))
misses = 0
for what, alab, aval, clab, cval, op, target in rows:
    ratio = cval / aval if (aval and cval is not None) else None
    if ratio is None:
        result = "n/a"
    else:
        ok = ratio >= target if op == ">=" else ratio <= target
        result = "PASS" if ok else "MISS"
        misses += 0 if ok else 1
    r = "n/a" if ratio is None else f"{ratio:.2f}x"
    print(f"{what:<44} {alab:<22} {fmt(aval):>9}  {clab:<17} {fmt(cval):>9}  {r:>7}  {op} {target:<5.2f}  {result}")
print()
for what, v in info:
    print(f"  {what:<52} {v if isinstance(v, str) else fmt(v)}")

if env.get("BENCH_JSON"):
    raw = {n: load(n) for n in sorted(os.listdir(work)) if n.endswith(".json") and n != "prompts.json"}
    raw["env"] = {k: v for k, v in env.items() if k.startswith("BENCH_")}
    with open(env["BENCH_JSON"], "w") as f:
        json.dump(raw, f, indent=1)
sys.exit(0)
