"""The null baselines of world v2's id pairs against the shortcut dial: what style alone scores at each s.

    python benchmarks/world_dial_baselines.py [--dial 0,0.5,0.8,0.9,1] [--seed 0] [--n-train 12000] [--n-id 1000]

For each s, generates the world (``WorldConfig(seed, n_train, n_id, spurious=s)``), fits the style-only logistic
regression (``harness.null_baselines.StyleOnly``) on its training pairs and prints, on the id split, the style-only
and longer-wins accuracy and the style-only accuracy on outcome-differs, same-outcome, shortcut-aligned and
shortcut-conflict pairs and on ``shortcut_reversed``, as a Markdown table. No reward model: seconds of CPU.
"""
from __future__ import annotations

import argparse


def main() -> None:
    from harness.null_baselines import StyleOnly, baseline_hits
    from harness.suites.id import pair_groups
    from harness.world import WorldConfig, generate

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dial", default="0,0.5,0.8,0.9,1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-train", type=int, default=12000)
    parser.add_argument("--n-id", type=int, default=1000)
    args = parser.parse_args()
    print("| s | style-only, id | longer-wins, id | differ | same | aligned (n) | conflict (n) | shortcut_reversed |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in (float(x) for x in args.dial.split(",")):
        splits = generate(WorldConfig(seed=args.seed, n_train=args.n_train, n_id=args.n_id, n_ood=0, n_style=0,
                                      spurious=s)).splits
        style = StyleOnly(splits["train"])
        hits = baseline_hits(splits["id"], style)
        groups = {(g, v): mask for g, v, mask in pair_groups(splits["id"])}

        def on(group, value):
            mask = groups.get((group, value))
            return "—" if mask is None else f"{hits['style_only'][mask].mean():.3f} ({int(mask.sum())})"

        reversed_acc = style.hits(splits["shortcut_reversed"]).mean()
        print(f"| {s:g} | {hits['style_only'].mean():.3f} | {hits['longer_wins'].mean():.3f} | "
              f"{on('kind', 'differ').split()[0]} | {on('kind', 'same').split()[0]} | {on('shortcut', 'aligned')} | "
              f"{on('shortcut', 'conflict')} | {reversed_acc:.3f} |")


if __name__ == "__main__":
    main()
