"""Music quality of music21-prod's generation and analysis tools, measured with music21.

Run through scripts/eval-music (which finds the corpus, Python and the binary). Every tool is
called through `music21-prod tool NAME --args-file -` on one data directory and config; every
judgement is music21's, on the scores the tools export (MusicXML), never the tools' own
reports (those are printed beside, for comparison).
"""
import argparse
import bisect
import collections
import copy
import difflib
import glob
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time

import music21
from music21 import (chord, converter, expressions, interval, key, meter, note, roman, stream,
                     voiceLeading)

CADENCE_TYPES = ["authentic_perfect", "authentic_imperfect", "half", "plagal", "deceptive", "none"]
VOICES = ["soprano", "alto", "tenor", "bass"]
EPS = 1e-6

# Fux's cantus firmi (Gradus ad Parnassum, 1725) and two more, one note a bar.
CANTI = [
    ("fux-dorian", "D4 F4 E4 D4 G4 F4 A4 G4 F4 E4 D4"),
    ("fux-phrygian", "E4 C4 D4 C4 A3 A4 G4 E4 F4 E4"),
    ("fux-mixolydian", "G4 C5 B4 G4 C5 E5 D5 G5 E5 C5 D5 B4 A4 G4"),
    ("fux-aeolian", "A3 C4 B3 D4 C4 E4 F4 E4 D4 C4 B3 A3"),
    ("fux-ionian", "C4 E4 F4 G4 E4 A4 G4 E4 F4 E4 D4 C4"),
]


class ToolError(Exception):
    pass


class Tools:
    """The binary's `tool` subcommand on one data directory and config."""

    def __init__(self, binary, work, corpus):
        self.binary = binary
        self.config = os.path.join(work, "config.toml")
        self.data = os.path.join(work, "data")
        with open(self.config, "w") as f:
            f.write('[corpus]\ndirs = ["%s"]\n' % corpus)
        self.calls = 0
        self.seconds = 0.0

    def __call__(self, name, args):
        started = time.time()
        self.calls += 1
        try:
            p = subprocess.run(
                [self.binary, "tool", name, "--args-file", "-", "--config", self.config,
                 "--data-dir", self.data],
                input=json.dumps(args), capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired:
            raise ToolError(f"{name}: no answer in 600 s")
        finally:
            self.seconds += time.time() - started
        if p.returncode != 0:
            msg = (p.stderr.strip() or p.stdout.strip() or "no output").splitlines()
            raise ToolError(f"{name}: exit {p.returncode}: {msg[-1][:300] if msg else ''}")
        try:
            return json.loads(p.stdout)
        except json.JSONDecodeError as e:
            raise ToolError(f"{name}: output is not JSON ({e})")


# ---------------------------------------------------------------------------------------------
# music21 helpers


def pct(a, b):
    return 100.0 * a / b if b else float("nan")


def fmt_pct(a, b):
    return f"{pct(a, b):5.1f}%" if b else "    -"


def melody_notes(part):
    """A part's notes as (onset, end, note, fermata), tied notes once (the top pitch of a
    chord), rests left out."""
    out = []
    for n in part.flatten().notes:
        t = n.offset
        tie = n.tie.type if n.tie is not None else None
        has_fermata = any(isinstance(e, expressions.Fermata) for e in n.expressions)
        if tie in ("stop", "continue") and out:
            onset, end, first, f = out[-1]
            if abs(end - t) < EPS and first.pitches[-1].ps == n.pitches[-1].ps:
                out[-1] = (onset, t + n.quarterLength, first, f or has_fermata)
                continue
        out.append((t, t + n.quarterLength, n, has_fermata))
    return out


def soprano_part(score):
    parts = list(score.parts)
    for p in parts:
        if "soprano" in (p.partName or "").lower():
            return p
    return parts[0]


def satb(score):
    """The vocal parts of a chorale (Soprano, Alto, Tenor, Bass by name) as a score of their
    own, leaving out doubling instruments; the score itself when it has no such names."""
    parts = list(score.parts)
    named = []
    for voice in VOICES:
        found = [p for p in parts if (p.partName or "").strip().lower().startswith(voice)]
        if not found:
            return score
        named.append(found[0])
    if len(parts) == 4 and named == parts:
        return score
    out = stream.Score()
    for p in named:
        out.insert(0, p)
    return out


def soprano_index(score):
    parts = list(score.parts)
    return parts.index(soprano_part(score))


def midis(notes):
    return [int(round(n.pitches[-1].ps)) for _, _, n, _ in notes]


def beat_onsets(score):
    """Every beat onset of the meter (absolute offsets), from the first part's measures; a
    pickup counts its beats from the bar's end."""
    part = score.parts[0]
    out = []
    ts = None
    for m in part.getElementsByClass("Measure"):
        found = m.getElementsByClass(meter.TimeSignature)
        if found:
            ts = found[0]
        if ts is None:
            ts = m.getContextByClass(meter.TimeSignature) or meter.TimeSignature("4/4")
        bd = ts.beatDuration.quarterLength
        pad = m.paddingLeft or 0.0
        length = m.duration.quarterLength
        k = 0
        while True:
            q = k * bd - pad
            k += 1
            if q < -EPS:
                continue
            if q >= length - EPS:
                break
            out.append(round(m.offset + q, 6))
    return out


class Chords:
    """The chordified chords of a score with their absolute spans."""

    def __init__(self, score):
        flat = score.chordify().flatten()
        self.items = []
        for c in flat.getElementsByClass(chord.Chord):
            if c.quarterLength <= 0 or not c.pitches:
                continue
            self.items.append((c.offset, c.offset + c.quarterLength, c))
        self.starts = [s for s, _, _ in self.items]

    def at(self, t):
        i = bisect.bisect_right(self.starts, t + EPS) - 1
        if i < 0:
            return None
        s, e, c = self.items[i]
        return c if t < e - EPS else None

    def index_at(self, t):
        i = bisect.bisect_right(self.starts, t + EPS) - 1
        if i < 0 or t >= self.items[i][1] - EPS:
            return None
        return i

    def last(self):
        return self.items[-1][2] if self.items else None


def key_string(k):
    return f"{k.tonic.name} {k.mode}"


def rn_of(c, k):
    try:
        return roman.romanNumeralFromChord(c, k)
    except Exception:
        return None


def quality(c):
    """major, minor, diminished, augmented or other (no third) of a chord's triad."""
    try:
        return c.quality
    except Exception:
        return "other"


def root_interval(c, k):
    return (c.root().pitchClass - k.tonic.pitchClass) % 12


def tertian(c):
    """A triad or seventh chord, complete or without its fifth: a harmony, not a suspension
    or passing sonority."""
    try:
        r = c.root().pitchClass
    except Exception:
        return False
    ivs = {(p.pitchClass - r) % 12 for p in c.pitches} - {0}
    thirds, fifths, sevenths = ivs & {3, 4}, ivs & {6, 7, 8}, ivs & {9, 10, 11}
    if len(thirds) != 1 or len(fifths) > 1 or len(sevenths) > 1:
        return False
    if ivs - {3, 4, 6, 7, 8, 9, 10, 11}:
        return False
    if 9 in sevenths and not (3 in thirds and 6 in fifths):
        return False
    return True


def identity(c):
    return (c.root().pitchClass, quality(c))


def analyse_key(pitch_durations):
    s = stream.Stream()
    t = 0.0
    for p, d in pitch_durations:
        n = note.Note(p, quarterLength=max(d, 0.25))
        s.insert(t, n)
        t += n.quarterLength
    return s.analyze("key")


def phrase_key(score, start, end):
    """music21's key of every note of every part with its onset in [start, end)."""
    pd = []
    for part in score.parts:
        for n in part.flatten().notes:
            if start - EPS <= n.offset < end - EPS:
                for p in n.pitches:
                    pd.append((p, n.quarterLength))
    if not pd:
        return None
    return analyse_key(pd)


def bach_key(score):
    """The key a chorale is in, to grade a key finder against (section 2): music21's
    analyze('key') of every part, unless Bach's last chord contradicts it; then the best of
    music21's other readings that his last chord confirms. A chorale ends on its tonic (in
    minor often with the Picardy third) or, in minor, on the major dominant (a Phrygian
    close); a profile of the whole score can still rank the relative key or the subdominant
    first (bwv371 "G major", ending on E major after F-E in the tune: A minor with a Phrygian
    close), and a key no ending of Bach's confirms is no fair answer to grade a key finder
    against. Section 1 still gives the tool music21's first reading: the key the body of the
    chorale is heard in, whatever its close."""
    k = score.analyze("key")
    last = Chords(score).last()
    if last is None:
        return k
    for candidate in [k] + list(k.alternateInterpretations):
        kind = end_kind(last, candidate)
        if kind in ("tonic", "picardy") or (kind == "on_V" and candidate.mode == "minor"):
            return candidate
    return k


def end_kind(last, k):
    """How Bach's last chord stands in his key: tonic (of the key's mode, or without a third),
    picardy (major on a minor tonic), on_V (major or open V: a Phrygian or half close), other."""
    q = quality(last)
    if root_interval(last, k) == 0 and (q == k.mode or q == "other"):
        return "tonic"
    if root_interval(last, k) == 0 and k.mode == "minor" and q == "major":
        return "picardy"
    if root_interval(last, k) == 7 and q in ("major", "other"):
        return "on_V"
    return "other"


def end_right(bach_last, ours_last):
    """Our last chord is Bach's: the same root and, unless Bach leaves out the third, the same
    major/minor quality."""
    if ours_last is None:
        return False
    bq = quality(bach_last)
    return (ours_last.root().pitchClass == bach_last.root().pitchClass
            and (quality(ours_last) == bq or bq == "other"))


def fermatas(score):
    """The soprano's fermata notes: (onset, end, measure number)."""
    return [(s, e, n.measureNumber) for s, e, n, f in melody_notes(soprano_part(score)) if f]


def classify_cadence(final, pen, k):
    """A cadence type in key k from the final chord and the harmony before it."""
    if final is None:
        return "none"
    fi, fq = root_interval(final, k), quality(final)
    pi = root_interval(pen, k) if pen is not None else None
    pq = quality(pen) if pen is not None else None
    pen_dom = pi == 7 and pq in ("major", "other")
    pen_lt = pi == 11 and pq == "diminished"
    if fi == 0 and fq in ("major", "minor", "other"):
        if pen_dom or pen_lt:
            root_pos = lambda c: c.bass().pitchClass == c.root().pitchClass
            top_on_tonic = max(final.pitches, key=lambda p: p.ps).pitchClass == k.tonic.pitchClass
            if pen_dom and root_pos(pen) and root_pos(final) and top_on_tonic:
                return "authentic_perfect"
            return "authentic_imperfect"
        if pi == 5 and pq in ("major", "minor"):
            return "plagal"
        return "none"
    if fi == 7 and fq in ("major", "other"):
        return "half"
    if (pen_dom or pen_lt) and fi == (9 if k.mode == "major" else 8):
        return "deceptive"
    return "none"


def cadences_at_fermatas(score, chords, ferm):
    """For each fermata (onset, end): (local key, type, penultimate figure, final figure)."""
    out = []
    prev_end = 0.0
    for onset, end, _ in ferm:
        lk = phrase_key(score, prev_end, end)
        prev_end = end
        # the final chord: the longest chord inside the fermata note (the earliest of equals)
        inside = [(i, s, e, c) for i, (s, e, c) in enumerate(chords.items)
                  if s < end - EPS and e > onset + EPS]
        if not inside or lk is None:
            out.append((lk, "none", None, None))
            continue
        fi, _, _, final = max(inside, key=lambda x: (min(x[2], end) - max(x[1], onset), -x[1]))
        fid = identity(final)
        pen = None
        j = fi - 1
        while j >= 0:
            s, e, c = chords.items[j]
            # Passed over: the final's own harmony, and passing or suspension sonorities, i.e.
            # chords that are no triad or seventh chord. A short chord on a weak position that
            # is one is kept: it is the dominant on the second eighth of ii65-V-I, Bach's
            # commonest approach to a fermata.
            if tertian(c) and identity(c) != fid:
                pen = c
                break
            j -= 1
        ctype = classify_cadence(final, pen, lk)
        fr = rn_of(final, lk)
        pr = rn_of(pen, lk) if pen is not None else None
        out.append((lk, ctype, pr.figure if pr else None, fr.figure if fr else None))
    return out


def bach_local_cadences(s):
    """The local-key reading of a chorale's four parts `s` (`satb(score)`): section 3's, the
    measure of harmony_analysis in section 4 and in scripts/check-local-cadences. Its
    soprano fermatas (onset, end, measure) and, for each, (local key, type, penultimate
    figure, final figure)."""
    ferm = fermatas(s)
    return ferm, cadences_at_fermatas(s, Chords(s), ferm)


def tool_cadence_at_fermata(out, onset, end):
    """harmony_analysis's cadence at the fermata note [onset, end): (label, field read, the
    phrase end). The phrase end is the tool's first inside the note; the label its local-key
    field when it has one (local_cadence, local: {...}, ...), else its home-key cadence."""
    ends = out.get("phrase_ends") or []
    cads = out.get("cadences") or []
    cand = [pe for pe in ends if onset - EPS <= float(pe.get("offset", -1)) < end - EPS]
    pe = min(cand, key=lambda x: float(x["offset"]) - onset) if cand else None
    if pe is None:
        return "none", "no phrase end", None
    label, field = None, None
    local = {k: v for k, v in pe.items() if k.startswith("local")}
    cad = next((c for c in cads if c.get("chord_index") == pe.get("chord_index")
                or abs(float(c.get("offset", -1)) - float(pe["offset"])) < EPS), None)
    if cad is not None:
        local.update({k: v for k, v in cad.items() if k.startswith("local") and k not in local})
    for k, v in sorted(local.items(), key=lambda kv: "cadence" not in kv[0]):
        if isinstance(v, dict):
            if "cadence" in v or "type" in v:
                label = v.get("cadence", v.get("type"))
                label = label.get("type") if isinstance(label, dict) else label
                field = f"{k}.{'cadence' if 'cadence' in v else 'type'}"
                break
            continue
        if (v is None or isinstance(v, str)) and (
                "cadence" in k or (isinstance(v, str) and v in CADENCE_TYPES)):
            label, field = v, k
            break
    if field is None:
        label, field = pe.get("cadence"), "cadence (home key)"
    return label or "none", field, pe


def pair_faults(upper, lower):
    """Parallel fifths, octaves (and unisons), crossings between two parts, notes aligned by
    time as scripts/check-harmonize-music21 aligns them (music21's VoiceLeadingQuartet).
    Returns lists of (kind, offset, measure)."""
    def sounding(part):
        return [(n.offset, n.offset + n.quarterLength, n) for n in part.flatten().notes]
    u, l = sounding(upper), sounding(lower)
    times = sorted({t for t, _, _ in u} | {t for t, _, _ in l})

    def at(seq, t):
        for s, e, n in seq:
            if s <= t < e:
                return n
        return None
    found = []
    prev = None
    for t in times:
        a, b = at(u, t), at(l, t)
        if a is None or b is None or a.isChord or b.isChord:
            prev = None
            continue
        if a.pitch.ps < b.pitch.ps:
            found.append(("crossing", t, a.measureNumber))
        if prev is not None and (prev[0] is not a or prev[1] is not b):
            q = voiceLeading.VoiceLeadingQuartet(prev[0], a, prev[1], b)
            if q.parallelFifth():
                found.append(("parallel_fifth", t, a.measureNumber))
            if q.parallelOctave() or q.parallelUnison():
                found.append(("parallel_octave", t, a.measureNumber))
        prev = (a, b)
    return found


def melodic_aug_dim(notes):
    """Augmented or diminished intervals between successive notes: (measure, name, a, b)."""
    out = []
    for (_, _, a, _), (_, _, b, _) in zip(notes, notes[1:]):
        try:
            iv = interval.Interval(a.pitches[-1], b.pitches[-1])
        except Exception:
            continue
        if iv.specifier is not None and iv.name[0] in "Ad":
            out.append((b.measureNumber, iv.directedName, a.pitches[-1].nameWithOctave,
                        b.pitches[-1].nameWithOctave))
    return out


def load_holdout(path):
    names = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                names.append(line)
    return names


def corpus_file(corpus, folder, name):
    for ext in (".mxl", ".musicxml", ".xml", ".krn", ".abc"):
        p = os.path.join(corpus, folder, name + ext)
        if os.path.exists(p):
            return p
    return None


def stem(path):
    return os.path.splitext(os.path.basename(path))[0]


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bin", required=True, help="the music21-prod binary")
    ap.add_argument("--corpus", required=True, help="../shared/corpus")
    ap.add_argument("--all", action="store_true", help="every chorale of bach/, not the held-out 15")
    ap.add_argument("--only", help="comma-separated chorale names, e.g. bwv66.6,bwv40.3")
    ap.add_argument("--keep", help="keep the data directory and exported scores in this directory")
    ap.add_argument("--holdout", default="assets/harmony/holdout.txt", help="the held-out list")
    ap.add_argument("--cp-runs", type=int, default=50, help="generate_counterpoint runs (0 skips)")
    ap.add_argument("--imitate-seeds", type=int, default=10, help="imitate_style seeds (0 skips)")
    a = ap.parse_args()
    started = time.time()

    corpus = a.corpus
    holdout = load_holdout(a.holdout)
    if a.only:
        names = [n.strip() for n in a.only.split(",") if n.strip()]
        subset = "only " + ",".join(names)
    elif a.all:
        names = sorted(stem(p) for p in glob.glob(os.path.join(corpus, "bach", "*.mxl")))
        subset = f"every file of bach/ ({len(names)}), chorales only"
    else:
        names = holdout
        subset = f"held-out {len(names)} ({a.holdout})"
    missing = [n for n in names if corpus_file(corpus, "bach", n) is None]
    if missing:
        print(f"eval-music: not in {corpus}/bach: {', '.join(missing)}", file=sys.stderr)
        sys.exit(2)

    if a.keep:
        os.makedirs(a.keep, exist_ok=True)
        work = os.path.abspath(a.keep)
        tmp = None
    else:
        tmp = tempfile.TemporaryDirectory(prefix="eval-music-")
        work = tmp.name
    tool = Tools(a.bin, work, corpus)
    try:
        version = subprocess.run([a.bin, "--version"], capture_output=True, text=True).stdout.strip()
    except Exception:
        version = "?"
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        rev += "+dirty" if dirty else ""
    except Exception:
        rev = "?"
    errors = []  # (section, what, message)

    def err(section, what, e):
        errors.append((section, what, str(e)))
        print(f"  ERROR [{section}] {what}: {e}")

    def export(score_id, fname):
        out = tool("export_score", {"score_id": score_id, "format": "musicxml"})
        path = os.path.join(work, fname)
        with open(path, "w") as f:
            f.write(out["content"])
        return converter.parse(path, format="musicxml")

    print(f"eval-music: {version} ({a.bin}); repo {rev}; music21 {music21.__version__}; "
          f"chorales: {subset}")

    # -- Bach's chorales, read once ----------------------------------------------------------
    bach = {}
    for n in names:
        try:
            full = converter.parse(corpus_file(corpus, "bach", n))
            if a.all and not any("soprano" in (p.partName or "").lower() for p in full.parts):
                print(f"(--all: {n} left out: no part named Soprano, not a chorale)")
                continue
            sop = soprano_index(full)
            s = satb(full)
            k = s.analyze("key")
            ch = Chords(s)
            beats = beat_onsets(s)
            ferm, cad = bach_local_cadences(s)
            bach[n] = dict(score=s, key=k, home=bach_key(s), chords=ch, beats=beats,
                           fermatas=ferm, cadences=cad, soprano=sop)
        except Exception as e:
            err("read", n, e)

    names = [n for n in names if n in bach or not a.all]
    if a.all:
        subset = f"all {len(names)} chorales of bach/"

    # -- 0. leaks: held-out melodies in bach-train (and the rest of bach/) -------------------
    print("\n== 0. Held-out melodies in the training chorales (soprano, in any transposition) ==")
    sop_cache = {}

    def soprano_line(path):
        """(MIDI of every soprano note, the soprano's pitch at each beat with repeats merged,
        whether a part is named Soprano: a chorale)."""
        if path not in sop_cache:
            sc = converter.parse(path)
            mn = melody_notes(soprano_part(sc))
            skel, i = [], 0
            for t in beat_onsets(sc):
                while i < len(mn) and mn[i][1] <= t + EPS:
                    i += 1
                if i < len(mn) and mn[i][0] <= t + EPS:
                    v = int(round(mn[i][2].pitches[-1].ps))
                    if not skel or skel[-1] != v:
                        skel.append(v)
            named = any("soprano" in (p.partName or "").lower() for p in sc.parts)
            sop_cache[path] = (midis(mn), skel, named)
        return sop_cache[path]
    ivs = lambda m: [b - a for a, b in zip(m, m[1:])]
    ratio = lambda x, y: difflib.SequenceMatcher(None, x, y, autojunk=False).ratio()
    others = sorted(glob.glob(os.path.join(corpus, "bach-train", "*.mxl")))
    others += [p for p in sorted(glob.glob(os.path.join(corpus, "bach", "*.mxl")))
               if stem(p) not in holdout]
    exact, near, maybe = [], [], []
    for h in holdout:
        hp = corpus_file(corpus, "bach", h)
        if hp is None:
            continue
        try:
            hm, hs, _ = soprano_line(hp)
        except Exception as e:
            err("leaks", h, e)
            continue
        for op in others:
            try:
                om, os_, _ = soprano_line(op)
            except Exception as e:
                err("leaks", op, e)
                continue
            other = os.path.relpath(op, corpus)
            if ivs(om) == ivs(hm):
                exact.append((h, other))
                continue
            r = max(ratio(ivs(hm), ivs(om)), ratio(ivs(hs), ivs(os_)))
            if r >= 0.85:
                near.append((h, other, r))
            elif r >= 0.7:
                maybe.append((h, other, r))
    train = lambda xs: [x for x in xs if x[1].startswith("bach-train/")]
    rest = lambda xs: [x for x in xs if not x[1].startswith("bach-train/")]
    print(f"held-out {len(holdout)} chorales against {len(others)}: bach-train/ and the rest of "
          "bach/ (bach-train/README.md: models learn from both)")
    print(f"the same soprano pitch sequence: {len(exact)}"
          + ("" if not exact else ": " + ", ".join(f"{h} = {o}" for h, o in exact)))
    print("the same tune varied (notes or beat-by-beat pitches, as intervals, >= 85% alike by "
          "difflib):" + (" none" if not near else ""))
    for h, o, r in sorted(near, key=lambda x: (x[0], -x[2])):
        print(f"  {h:<10} ~ {o:<26} {100 * r:5.1f}%")
    print("possibly related (70-85%):" + (" none" if not maybe else ""))
    for h, o, r in sorted(maybe, key=lambda x: (x[0], -x[2])):
        print(f"  {h:<10} ~ {o:<26} {100 * r:5.1f}%")

    # -- 1. harmonize_melody, key given --------------------------------------------------------
    print("\n== 1. harmonize_melody (chorale, seed 1), Bach's key given: Roman numerals per beat "
          "vs Bach ==")
    print(f"{'chorale':<11} {'key':<10} {'beats':>5} {'figure':>7} {'root':>7} {'bass':>7}")
    gen = {}
    tot = collections.Counter()
    for n in names:
        if n not in bach:
            continue
        b = bach[n]
        sid = n.replace(".", "_")
        try:
            tool("import_score", {"score_id": sid, "source": f"bach/{n}", "replace": True})
            out = tool("harmonize_melody", {"score_id": sid, "part": b["soprano"], "style": "chorale",
                                            "key": key_string(b["key"]), "seed": 1,
                                            "new_score_id": sid + "-h", "replace": True})
            g = export(sid + "-h", f"{n}-harmonized.musicxml")
            gch = Chords(g)
        except Exception as e:
            err("1", n, e)
            continue
        gen[n] = dict(score=g, chords=gch, out=out)
        c = collections.Counter()
        for t in b["beats"]:
            x, y = b["chords"].at(t), gch.at(t)
            if x is None or y is None:
                continue
            rx, ry = rn_of(x, b["key"]), rn_of(y, b["key"])
            if rx is None or ry is None:
                continue
            c["beats"] += 1
            c["figure"] += rx.figure == ry.figure
            c["root"] += rx.root().pitchClass == ry.root().pitchClass
            c["bass"] += x.bass().pitchClass == y.bass().pitchClass
        tot += c
        print(f"{n:<11} {key_string(b['key']):<10} {c['beats']:>5} {fmt_pct(c['figure'], c['beats']):>7} "
              f"{fmt_pct(c['root'], c['beats']):>7} {fmt_pct(c['bass'], c['beats']):>7}")
    print(f"{'overall':<11} {'':<10} {tot['beats']:>5} {fmt_pct(tot['figure'], tot['beats']):>7} "
          f"{fmt_pct(tot['root'], tot['beats']):>7} {fmt_pct(tot['bass'], tot['beats']):>7}")
    print("reference (quoted, not measured here): Bach against himself 58% figure / 78% root / 71% bass")
    s1 = tot

    # -- 2. harmonize_melody, key from the melody alone ---------------------------------------
    print("\n== 2. harmonize_melody on the melody alone (no key given): key and final chord "
          "(Bach key: music21's reading his last chord confirms, see bach_key) ==")
    print(f"{'chorale':<11} {'Bach key':<10} {'tool key':<10} {'key':<5} {'Bach end':<10} "
          f"{'ours end':<10} {'kind':<8} {'end':<5}")
    s2 = collections.Counter()
    for n in names:
        if n not in bach:
            continue
        b = bach[n]
        sid = n.replace(".", "_") + "-mel"
        try:
            mel = stream.Score()
            mel.insert(0, copy.deepcopy(soprano_part(b["score"])))
            path = os.path.join(work, f"{n}-melody.musicxml")
            mel.write("musicxml", fp=path)
            with open(path) as f:
                text = f.read()
            tool("import_score", {"score_id": sid, "source": text, "source_type": "text",
                                  "format": "musicxml", "replace": True})
            out = tool("harmonize_melody", {"score_id": sid, "style": "chorale", "seed": 1,
                                            "new_score_id": sid + "-h", "replace": True})
            g = export(sid + "-h", f"{n}-melody-harmonized.musicxml")
            glast = Chords(g).last()
        except Exception as e:
            err("2", n, e)
            continue
        bk = b["home"]
        tk = out.get("key") or {}
        try:
            tool_key = key.Key(tk["tonic"], tk["mode"])
            key_ok = tool_key.tonic.pitchClass == bk.tonic.pitchClass and tool_key.mode == bk.mode
            tk_s = key_string(tool_key)
        except Exception:
            key_ok, tk_s = False, str(tk.get("name"))
        blast = b["chords"].last()
        bq, gq = quality(blast), quality(glast) if glast is not None else "none"
        kind = end_kind(blast, bk)
        end_ok = end_right(blast, glast)
        s2["n"] += 1
        s2["key"] += key_ok
        s2["end"] += end_ok
        s2[kind] += 1
        s2[kind + "_ok"] += end_ok
        name = lambda c, q: f"{c.root().name} {q[:3]}" if c is not None else "-"
        print(f"{n:<11} {key_string(bk):<10} {tk_s:<10} {'yes' if key_ok else 'NO':<5} "
              f"{name(blast, bq):<10} {name(glast, gq):<10} {kind:<8} {'yes' if end_ok else 'NO':<5}")
    print(f"key right {s2['key']} of {s2['n']}; final chord right (root and major/minor) "
          f"{s2['end']} of {s2['n']}: Bach ends on the tonic of his mode {s2['tonic_ok']}/{s2['tonic']}, "
          f"with a Picardy third {s2['picardy_ok']}/{s2['picardy']}, on V (a Phrygian close, E major "
          f"in A minor) {s2['on_V_ok']}/{s2['on_V']}, elsewhere {s2['other_ok']}/{s2['other']}")

    # -- 3. cadences at fermatas in the local key ----------------------------------------------
    print("\n== 3. Cadences at fermatas, in each phrase's own key (music21 analyze('key') of the "
          "phrase) ==")
    print(f"{'chorale':<11} {'m.':>3} {'Bach local':<10} {'Bach':<22} {'ours local':<10} {'ours':<22} same")
    mix_b, mix_g = collections.Counter(), collections.Counter()
    s3 = collections.Counter()
    for n in names:
        if n not in bach or n not in gen:
            continue
        b, g = bach[n], gen[n]
        try:
            gc = cadences_at_fermatas(g["score"], g["chords"], b["fermatas"])
        except Exception as e:
            err("3", n, e)
            continue
        g["cadences"] = gc
        for (onset, _, mno), (bk, bt, bp, bf), (gk, gt, gp, gf) in zip(b["fermatas"], b["cadences"], gc):
            mix_b[bt] += 1
            mix_g[gt] += 1
            s3["n"] += 1
            s3["same"] += bt == gt
            show = lambda t, p, f: f"{t[:13]} {p or '-'}>{f or '-'}"[:22]
            print(f"{n:<11} {mno!s:>3} {key_string(bk) if bk else '-':<10} {show(bt, bp, bf):<22} "
                  f"{key_string(gk) if gk else '-':<10} {show(gt, gp, gf):<22} "
                  f"{'yes' if bt == gt else 'no'}")
    print(f"\n{'type':<20} {'Bach':>11} {'ours':>11} {'diff pp':>8}")
    worst = (0.0, "-")
    for t in CADENCE_TYPES:
        pb, pg = pct(mix_b[t], s3["n"]), pct(mix_g[t], s3["n"])
        d = abs(pb - pg) if s3["n"] else 0.0
        if d > worst[0]:
            worst = (d, t)
        print(f"{t:<20} {mix_b[t]:>3} {fmt_pct(mix_b[t], s3['n'])} {mix_g[t]:>3} "
              f"{fmt_pct(mix_g[t], s3['n'])} {d:>8.1f}")
    print(f"agreement at fermatas {s3['same']} of {s3['n']} ({fmt_pct(s3['same'], s3['n']).strip()}); "
          f"largest difference between the mixes {worst[0]:.1f} pp ({worst[1]})")

    # -- 4. harmony_analysis's cadences vs the local-key reading of Bach -----------------------
    print("\n== 4. harmony_analysis on Bach: its cadence at each fermata vs section 3's "
          "local-key reading ==")
    s4 = collections.Counter()
    used = collections.Counter()
    print(f"{'chorale':<11} {'fermatas':>8} {'agree':>6} {'field':<24} disagreements (tool/ours)")
    for n in names:
        if n not in bach:
            continue
        b = bach[n]
        sid = n.replace(".", "_")
        try:
            out = tool("harmony_analysis", {"score_id": sid})
        except Exception as e:
            err("4", n, e)
            continue
        agree, field_names, diffs = 0, set(), []
        for (onset, end, _), (_, bt, _, _) in zip(b["fermatas"], b["cadences"]):
            label, field, _ = tool_cadence_at_fermata(out, onset, end)
            field_names.add(field)
            used[field] += 1
            s4["n"] += 1
            if label == bt:
                agree += 1
            else:
                diffs.append(f"{label}/{bt}")
        s4["same"] += agree
        print(f"{n:<11} {len(b['fermatas']):>8} {agree:>6} {', '.join(sorted(field_names)):<24} "
              f"{' '.join(diffs)}")
    print(f"agreement at fermatas {s4['same']} of {s4['n']} ({fmt_pct(s4['same'], s4['n']).strip()}); "
          f"label read from: " + ", ".join(f"{k} {v}" for k, v in used.most_common()))

    # -- 5. rule faults in the harmonisations (key given) -------------------------------------
    print("\n== 5. Rule faults in the harmonisations (key given), music21 on the exported parts; "
          "Bach's own in brackets ==")
    print(f"{'chorale':<11} {'par5':>8} {'par8':>8} {'cross':>8}   aug/dim melodic S A T B")
    s5 = collections.Counter()
    listing = []
    for n in names:
        if n not in gen:
            continue
        row = {}
        for who, sc in (("ours", gen[n]["score"]), ("bach", bach[n]["score"])):
            parts = list(sc.parts)[:4]
            c = collections.Counter()
            try:
                for i, j in itertools.combinations(range(len(parts)), 2):
                    for kind, t, mno in pair_faults(parts[i], parts[j]):
                        c[kind] += 1
                        if who == "ours":
                            listing.append(f"{n} m.{mno} {VOICES[i]}-{VOICES[j]} {kind}")
                for i, p in enumerate(parts):
                    for mno, name, x, y in melodic_aug_dim(melody_notes(p)):
                        c[VOICES[i]] += 1
                        if who == "ours":
                            listing.append(f"{n} m.{mno} {VOICES[i]} {name} {x}-{y}")
            except Exception as e:
                err("5", f"{n} ({who})", e)
            row[who] = c
            for k, v in c.items():
                s5[f"{who}_{k}"] += v
        o, bb = row["ours"], row["bach"]
        cell = lambda k: f"{o[k]} ({bb[k]})"
        print(f"{n:<11} {cell('parallel_fifth'):>8} {cell('parallel_octave'):>8} "
              f"{cell('crossing'):>8}   " + "  ".join(cell(v) for v in VOICES))
    print(f"{'total':<11} {s5['ours_parallel_fifth']:>3} ({s5['bach_parallel_fifth']}) "
          f"{s5['ours_parallel_octave']:>3} ({s5['bach_parallel_octave']}) "
          f"{s5['ours_crossing']:>3} ({s5['bach_crossing']})   "
          + "  ".join(f"{v} {s5['ours_' + v]} ({s5['bach_' + v]})" for v in VOICES))
    print("(soprano = Bach's melody, the same in both; alto and tenor are the inner voices)")
    for line in listing:
        print("  " + line)

    # -- 6. generate_counterpoint, 50 runs checked with music21 --------------------------------
    print(f"\n== 6. generate_counterpoint: {a.cp_runs} runs (species 1-5 x {len(CANTI)} cantus "
          "firmi x above/below, seed = run), checked with music21 ==")
    for cid, notes_s in CANTI:
        try:
            sc = stream.Score()
            p = stream.Part()
            p.append(meter.TimeSignature("4/4"))
            for x in notes_s.split():
                p.append(note.Note(x, type="whole"))
            sc.insert(0, p)
            path = os.path.join(work, f"cf-{cid}.musicxml")
            sc.write("musicxml", fp=path)
            with open(path) as f:
                tool("import_score", {"score_id": cid, "source": f.read(), "source_type": "text",
                                      "format": "musicxml", "replace": True})
        except Exception as e:
            err("6", f"cantus {cid}", e)
    s6 = collections.Counter()
    fault_kinds = collections.Counter()
    tool_compliance, tool_strict, tool_licences = [], [], 0
    tool_failed = collections.Counter()
    print(f"{'run':>3} {'sp':>2} {'cantus':<15} {'voice':<5} {'tool %':>6} {'strict':>6} {'lic':>3} "
          f"{'tool fails':<12} music21 faults")
    for r in range(a.cp_runs):
        species = r % 5 + 1
        cid = CANTI[(r // 5) % len(CANTI)][0]
        voice = "above" if (r // (5 * len(CANTI))) % 2 == 0 else "below"
        new = f"cp{r}"
        try:
            out = tool("generate_counterpoint", {"score_id": cid, "species": species, "voice": voice,
                                                 "seed": r + 1, "new_score_id": new, "replace": True})
            sc = export(new, f"{new}.musicxml")
        except Exception as e:
            err("6", f"run {r} species {species} {cid} {voice}", e)
            s6["errors"] += 1
            continue
        try:
            faults = check_counterpoint(sc, out, species, voice)
        except Exception as e:
            err("6", f"run {r} check", e)
            s6["errors"] += 1
            continue
        s6["runs"] += 1
        s6["clean"] += not faults
        for f in faults:
            fault_kinds[f.split(":")[0]] += 1
        comp = out.get("compliance")
        strict = out.get("strict_compliance")
        lic = out.get("licences") or []
        fails = [x.get("id", "?") for x in out.get("rules") or [] if not x.get("passed", True)]
        if comp is not None:
            tool_compliance.append(comp)
        if strict is not None:
            tool_strict.append(strict)
        tool_licences += len(lic)
        for x in fails:
            tool_failed[x] += 1
        print(f"{r:>3} {species:>2} {cid:<15} {voice:<5} {comp if comp is not None else '-':>6} "
              f"{strict if strict is not None else '-':>6} {len(lic):>3} {','.join(fails) or '-':<12} "
              + ("; ".join(faults) if faults else "clean"))
    mean = lambda xs: sum(xs) / len(xs) if xs else float("nan")
    print(f"clean runs (music21) {s6['clean']} of {a.cp_runs} (tool errors {s6['errors']}); faults: "
          + (", ".join(f"{k} {v}" for k, v in fault_kinds.most_common()) or "none"))
    print(f"tool's own: mean compliance {mean(tool_compliance):.1f}%, mean strict compliance "
          f"{mean(tool_strict):.1f}%, licences {tool_licences}, rules failed: "
          + (", ".join(f"{k} {v}" for k, v in tool_failed.most_common()) or "none"))

    # -- 7. imitate_style ------------------------------------------------------------------------
    # The sources: every chorale of bach/ (a part named Soprano; bach/ also holds a keyboard
    # prelude), imported and passed by id.
    src_ids, src_m = [], []
    for pth in sorted(glob.glob(os.path.join(corpus, "bach", "*.mxl"))):
        try:
            m, _, named = soprano_line(pth)
            if not named:
                continue
            sid = "src-" + stem(pth).replace(".", "_")
            tool("import_score", {"score_id": sid, "source": "bach/" + stem(pth), "replace": True})
        except Exception as e:
            err("7", f"source {pth}", e)
            continue
        src_ids.append(sid)
        src_m.append(m)
    print(f"\n== 7. imitate_style ({len(src_ids)} chorales of bach/ as sources, 16 measures, seeds "
          f"1-{a.imitate_seeds}): register and tritone leaps vs the sources' sopranos ==")
    gen_m, gen_rows = [], []
    for seed in range(1, a.imitate_seeds + 1):
        try:
            out = tool("imitate_style", {"source": src_ids, "measures": 16, "seed": seed,
                                         "new_score_id": f"im{seed}", "replace": True})
            sc = export(f"im{seed}", f"imitation-{seed}.musicxml")
        except Exception as e:
            err("7", f"seed {seed}", e)
            continue
        m = midis(melody_notes(sc.parts[0]))
        gen_m.append(m)
        gen_rows.append((seed, out.get("key"), out.get("time_signature"), m,
                         (out.get("statistics") or {}).get("tritone_leaps") or {}))

    def pctl(sorted_m, f):
        return sorted_m[min(len(sorted_m) - 1, int(round((len(sorted_m) - 1) * f)))] if sorted_m else None

    def tritones(lines):
        iv = [b - a for m in lines for a, b in zip(m, m[1:])]
        return sum(abs(x) == 6 for x in iv), len(iv)
    allsrc = sorted(x for m in src_m for x in m)
    sp5, sp95 = pctl(allsrc, 0.05), pctl(allsrc, 0.95)
    st, sn = tritones(src_m)
    print(f"sources: {len(src_m)} sopranos, {len(allsrc)} notes, 5th-95th percentile MIDI {sp5}-{sp95} "
          f"(lowest {allsrc[0] if allsrc else '-'}, highest {allsrc[-1] if allsrc else '-'}); "
          f"tritone leaps {st} of {sn} intervals ({fmt_pct(st, sn).strip()})")
    print(f"{'seed':>4} {'key':<9} {'ts':<4} {'notes':>5} {'low':>4} {'high':>4} {'p5':>4} {'p95':>4} "
          f"{'inside':<6} {'tritones':>8} {'tool says':>9}")
    s7 = collections.Counter()
    for seed, k, ts, m, tl in gen_rows:
        sm = sorted(m)
        inside = bool(sm) and sm[0] >= sp5 and sm[-1] <= sp95
        t, nn = tritones([m])
        s7["inside"] += inside
        s7["n"] += 1
        print(f"{seed:>4} {str(k):<9} {str(ts):<4} {len(m):>5} {sm[0]:>4} {sm[-1]:>4} {pctl(sm, .05):>4} "
              f"{pctl(sm, .95):>4} {'yes' if inside else 'NO':<6} {t:>3}/{nn:<4} "
              f"{tl.get('result_tritones', '-')!s:>3}/{tl.get('result_intervals', '-')!s:<4}")
    allgen = sorted(x for m in gen_m for x in m)
    gt, gn = tritones(gen_m)
    rate_g, rate_s = (gt / gn if gn else 0.0), (st / sn if sn else 0.0)
    # within a factor of two either way; a rate of zero matches only zero
    within = (rate_g == rate_s) or (rate_s > 0 and rate_s / 2 <= rate_g <= rate_s * 2)
    if allgen:
        print(f"pooled: lowest {allgen[0]}, highest {allgen[-1]}, 5th-95th percentile "
              f"{pctl(allgen, .05)}-{pctl(allgen, .95)}; register inside the sources' {sp5}-{sp95} in "
              f"{s7['inside']} of {s7['n']}; tritone leaps {gt} of {gn} ({fmt_pct(gt, gn).strip()}) vs "
              f"sources {fmt_pct(st, sn).strip()}: within 2x {'yes' if within else 'no'}")

    # -- summary -------------------------------------------------------------------------------
    elapsed = time.time() - started
    print("\n== Summary ==")
    print(f"binary            {version} ({a.bin}); repo {rev}; music21 {music21.__version__}; {subset}")
    print(f"1 harmonise/key   figure {fmt_pct(s1['figure'], s1['beats']).strip()}, root "
          f"{fmt_pct(s1['root'], s1['beats']).strip()}, bass {fmt_pct(s1['bass'], s1['beats']).strip()} "
          f"of {s1['beats']} beats in {len(gen)} chorales (Bach vs Bach: 58 / 78 / 71)")
    print(f"2 harmonise/mel.  key right {s2['key']}/{s2['n']}; final chord right {s2['end']}/{s2['n']} "
          f"(Bach on his tonic {s2['tonic_ok']}/{s2['tonic']}, Picardy {s2['picardy_ok']}/{s2['picardy']}, "
          f"on V {s2['on_V_ok']}/{s2['on_V']}, other {s2['other_ok']}/{s2['other']})")
    print(f"3 cadences        ours = Bach at {s3['same']}/{s3['n']} fermatas "
          f"({fmt_pct(s3['same'], s3['n']).strip()}); largest mix difference {worst[0]:.1f} pp "
          f"({worst[1]})")
    print(f"                  Bach " + " ".join(f"{t}={mix_b[t]}" for t in CADENCE_TYPES))
    print(f"                  ours " + " ".join(f"{t}={mix_g[t]}" for t in CADENCE_TYPES))
    print(f"4 harmony_anal.   agreement {s4['same']}/{s4['n']} ({fmt_pct(s4['same'], s4['n']).strip()}) "
          f"using " + ", ".join(f"{k}" for k, _ in used.most_common()))
    print(f"5 rule faults     ours: parallel 5ths {s5['ours_parallel_fifth']}, 8ves/unisons "
          f"{s5['ours_parallel_octave']}, crossings {s5['ours_crossing']}; aug/dim melodic: alto "
          f"{s5['ours_alto']}, tenor {s5['ours_tenor']}, bass {s5['ours_bass']} (soprano {s5['ours_soprano']}, Bach's line)")
    print(f"                  Bach: parallel 5ths {s5['bach_parallel_fifth']}, 8ves/unisons "
          f"{s5['bach_parallel_octave']}, crossings {s5['bach_crossing']}; aug/dim melodic: alto "
          f"{s5['bach_alto']}, tenor {s5['bach_tenor']}, bass {s5['bach_bass']}")
    print(f"6 counterpoint    clean {s6['clean']}/{a.cp_runs} (music21); faults "
          + (", ".join(f"{k} {v}" for k, v in fault_kinds.most_common()) or "none")
          + f"; tool compliance {mean(tool_compliance):.1f}%, strict {mean(tool_strict):.1f}%, "
          f"licences {tool_licences}")
    if allgen:
        print(f"7 imitate_style   register inside {s7['inside']}/{s7['n']} (ours {pctl(allgen, .05)}-"
              f"{pctl(allgen, .95)}, range {allgen[0]}-{allgen[-1]}; sources {sp5}-{sp95}); tritone "
              f"rate {100 * rate_g:.2f}% vs {100 * rate_s:.2f}% (within 2x: {'yes' if within else 'no'})")
    else:
        print("7 imitate_style   no result")
    pairs = lambda xs: ", ".join(f"{x[0]}~{stem(x[1])}" for x in sorted(xs)) or "none"
    print(f"leaks             same soprano: bach-train {len(train(exact))}, rest of bach/ "
          f"{len(rest(exact))}; same tune varied (>= 85%): bach-train {pairs(train(near))}; "
          f"rest of bach/ {pairs(rest(near))}")
    print(f"errors            {len(errors)}" + ("" if not errors else ": " + "; ".join(
        f"[{s}] {w}" for s, w, _ in errors)))
    print(f"time              {elapsed:.0f} s ({tool.calls} tool calls, {tool.seconds:.0f} s in them)")
    if tmp is not None:
        tmp.cleanup()
    return 0


# ---------------------------------------------------------------------------------------------
# counterpoint check


def check_counterpoint(score, out, species, voice):
    """Faults of a two-part species counterpoint, found by music21 alone."""
    parts = list(score.parts)
    if len(parts) != 2:
        return [f"parts: {len(parts)} parts, not 2"]
    cf_ps = [x for x in (out.get("cantus_firmus") or [])]
    lines = [melody_notes(p) for p in parts]
    want = [music21.pitch.Pitch(x).ps for x in cf_ps]
    got = [[n.pitches[-1].ps for _, _, n, _ in ln] for ln in lines]
    if got[0] == want and got[1] != want:
        ci, pi = 0, 1
    elif got[1] == want:
        ci, pi = 1, 0
    else:
        ci, pi = (1, 0) if voice == "above" else (0, 1)
    cf, cp = lines[ci], lines[pi]
    faults = []
    upper, lower = (parts[pi], parts[ci]) if voice == "above" else (parts[ci], parts[pi])
    for kind, t, mno in pair_faults(upper, lower):
        faults.append(f"{kind}: m.{mno}")

    def sounding(line, t):
        for i, (s, e, n, _) in enumerate(line):
            if s - EPS <= t < e - EPS:
                return i
        return None

    def consonant(a, b):
        iv = interval.Interval(a, b)
        return iv.semiSimpleName in ("P1", "P5", "P8", "m3", "M3", "m6", "M6")
    # downbeats: the onset of each cantus firmus note (one a bar)
    for s, _, cfn, _ in cf:
        i = sounding(cp, s)
        if i is None:
            continue
        cs, ce, cpn, _ = cp[i]
        a, b = cfn.pitches[-1], cpn.pitches[-1]
        if consonant(a, b):
            continue
        name = interval.Interval(a, b).semiSimpleName
        where = f"m.{cfn.measureNumber}"
        if species <= 3:
            faults.append(f"dissonant_downbeat: {where} {name}")
            continue
        # species 4 and 5: a dissonance on the downbeat must be a suspension (held over the
        # barline) resolving down by step
        if cs >= s - EPS:
            faults.append(f"unprepared_dissonance: {where} {name}")
            continue
        if i + 1 >= len(cp):
            faults.append(f"unresolved_suspension: {where} {name}")
            continue
        nxt = cp[i + 1][2].pitches[-1]
        step = interval.Interval(b, nxt)
        if not (step.direction == interval.Direction.DESCENDING and step.generic.undirected == 2):
            faults.append(f"suspension_not_resolved_down_by_step: {where} {name} then {step.directedName}")
    # melodic augmented or diminished intervals
    for mno, name, x, y in melodic_aug_dim(cp):
        faults.append(f"melodic_aug_dim: m.{mno} {name} {x}-{y}")
    # outlined augmented or diminished intervals
    ps = [n.pitches[-1] for _, _, n, _ in cp]
    mnos = [n.measureNumber for _, _, n, _ in cp]
    # (a) consecutive leaps in one direction
    i = 0
    while i < len(ps) - 1:
        j = i
        d0 = None
        while j < len(ps) - 1:
            iv = interval.Interval(ps[j], ps[j + 1])
            d = (ps[j + 1].ps > ps[j].ps) - (ps[j + 1].ps < ps[j].ps)
            if iv.generic.undirected <= 2 or d == 0 or (d0 is not None and d != d0):
                break
            d0 = d
            j += 1
        if j - i >= 2:
            span = interval.Interval(ps[i], ps[j])
            if span.name[0] in "Ad":
                faults.append(f"outlined_by_leaps: m.{mnos[i]}-{mnos[j]} {span.directedName} "
                              f"{ps[i].nameWithOctave}-{ps[j].nameWithOctave}")
        i = max(j, i + 1)
    # (b) between successive turning points (repeated notes carry the direction on)
    turns = [0]
    last_d = 0
    for k in range(1, len(ps)):
        d = (ps[k].ps > ps[k - 1].ps) - (ps[k].ps < ps[k - 1].ps)
        if d == 0:
            continue
        if last_d and d != last_d:
            # the turn is the last note before the direction changed
            turns.append(k - 1)
        last_d = d
    turns.append(len(ps) - 1)
    turns = sorted(set(turns))
    for x, y in zip(turns, turns[1:]):
        if y - x < 2:
            continue  # one interval: counted as melodic above
        span = interval.Interval(ps[x], ps[y])
        if span.name[0] in "Ad":
            faults.append(f"outlined_between_turns: m.{mnos[x]}-{mnos[y]} {span.directedName} "
                          f"{ps[x].nameWithOctave}-{ps[y].nameWithOctave}")
    return faults


if __name__ == "__main__":
    sys.exit(main())
