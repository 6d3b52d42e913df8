"""harmonize_melody's key and final chord, from the melody alone, on every chorale of the corpus.

The key choice is written by hand (not learnt from the chorales), so it can be measured on every
chorale of bach/ and bach-train/, not only the held-out 15 of scripts/eval-music. Each soprano is
imported alone (as scripts/eval-music section 2 does) and harmonised without `key`; the key is
judged against Bach's (eval_music.bach_key) and the final chord against his last chord (root and
major/minor), both by music21.

Run through scripts/eval-melody-key [--only bwv66.6,...] [--jobs N] [--verbose].
"""
import argparse
import glob
import json
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eval_music import (Chords, Tools, bach_key, corpus_file, end_kind, end_right, key_string,
                        melody_notes, quality, satb, soprano_part, stem)
from music21 import converter, key, stream


def bach_side(path):
    """What Bach's chorale says: its key, its last chord, the melody's last notes."""
    full = converter.parse(path)
    if not any("soprano" in (p.partName or "").lower() for p in full.parts):
        return None
    s = satb(full)
    k = bach_key(s)
    last = Chords(s).last()
    sop = soprano_part(s)
    mn = melody_notes(sop)
    sig = [e.sharps for e in sop.recurse().getElementsByClass(key.KeySignature)][:1]
    return dict(score=s, key=k, m21=s.analyze("key"), last=last, sop=sop,
                tail=" ".join(n.pitches[-1].name for _, _, n, _ in mn[-4:]),
                fermatas=" ".join(n.pitches[-1].name for _, _, n, f in mn if f),
                signature=sig[0] if sig else None)


def tool_side(tool, work, name, sop):
    sid = name.replace(".", "_") + "-mel"
    mel = stream.Score()
    mel.insert(0, sop)
    path = os.path.join(work, f"{name}-melody.musicxml")
    mel.write("musicxml", fp=path)
    with open(path) as f:
        text = f.read()
    tool("import_score", {"score_id": sid, "source": text, "source_type": "text",
                          "format": "musicxml", "replace": True})
    out = tool("harmonize_melody", {"score_id": sid, "style": "chorale", "seed": 1,
                                    "new_score_id": sid + "-h", "replace": True})
    exported = tool("export_score", {"score_id": sid + "-h", "format": "musicxml"})
    gpath = os.path.join(work, f"{name}-h.musicxml")
    with open(gpath, "w") as f:
        f.write(exported["content"])
    glast = Chords(converter.parse(gpath, format="musicxml")).last()
    tk = out.get("key") or {}
    return key.Key(tk["tonic"], tk["mode"]), glast


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--only", help="comma-separated chorale names")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--holdout", default="assets/harmony/holdout.txt")
    a = ap.parse_args()
    paths = sorted(glob.glob(os.path.join(a.corpus, "bach", "*.mxl")))
    paths += sorted(glob.glob(os.path.join(a.corpus, "bach-train", "*.mxl")))
    if a.only:
        wanted = {n.strip() for n in a.only.split(",")}
        paths = [p for p in paths if stem(p) in wanted]
    with open(a.holdout) as f:
        holdout = {l.strip() for l in f if l.strip() and not l.startswith("#")}
    tmp = tempfile.TemporaryDirectory(prefix="eval-melody-key-")
    tool = Tools(a.bin, tmp.name, a.corpus)

    def one(path):
        name = stem(path)
        try:
            b = bach_side(path)
            if b is None:
                return name, None, None
            tk, glast = tool_side(tool, tmp.name, name, b["sop"])
            return name, b, (tk, glast)
        except Exception as e:
            return name, None, e

    with ThreadPoolExecutor(max_workers=a.jobs) as ex:
        results = list(ex.map(one, paths))
    totals = {"all": [0, 0, 0, 0], "held-out": [0, 0, 0, 0]}
    elsewhere = []
    print(f"{'chorale':<12} {'sig':>3} {'Bach key':<10} {'m21 key':<10} {'tool key':<10} key  "
          f"{'Bach end':<9} {'ours end':<9} {'kind':<8} end  tail / fermatas")
    for name, b, got in results:
        if b is None:
            if got is not None:
                print(f"{name:<12} ERROR {got}")
            continue
        tk, glast = got
        bk = b["key"]
        key_ok = tk.tonic.pitchClass == bk.tonic.pitchClass and tk.mode == bk.mode
        end_ok = end_right(b["last"], glast)
        kind = end_kind(b["last"], bk)
        # Our own close, in the key we chose: the tonic (Picardy included) or, in minor, the
        # major dominant; nothing else may end a harmonisation.
        ours = end_kind(glast, tk) if glast is not None else "other"
        closes = ours in ("tonic", "picardy") or (ours == "on_V" and tk.mode == "minor")
        if not closes:
            elsewhere.append(name)
        for group in ["all"] + (["held-out"] if name in holdout else []):
            totals[group][0] += 1
            totals[group][1] += key_ok
            totals[group][2] += end_ok
            totals[group][3] += key_ok and end_ok
        chord_name = lambda c: f"{c.root().name} {quality(c)[:3]}" if c is not None else "-"
        flag = lambda ok: "yes " if ok else "NO  "
        print(f"{name:<12} {b['signature'] if b['signature'] is not None else '-':>3} "
              f"{key_string(bk):<10} {key_string(b['m21']):<10} {key_string(tk):<10} "
              f"{flag(key_ok)} {chord_name(b['last']):<9} {chord_name(glast):<9} {kind:<8} "
              f"{flag(end_ok)} {b['tail']} / {b['fermatas']}"
              + ("" if closes else f"  ** ours closes on {ours} in {key_string(tk)}"))
    for group, (n, k, e, both) in totals.items():
        share = lambda x: f"{x} ({100 * x / max(n, 1):.1f}%)"
        print(f"{group}: {n} chorales, key right {share(k)}, final chord right {share(e)}, "
              f"both {share(both)}")
    print(f"ours closing on neither the tonic nor (in minor) the major dominant of our key: "
          f"{len(elsewhere)}" + (f" ({', '.join(elsewhere)})" if elsewhere else ""))


if __name__ == "__main__":
    main()
