//! Melodies drawn from the model.
//!
//! Generation fixes the metric position (it follows from the notes before), keeps every
//! note inside its bar, starts and ends on the tonic, and stays inside the register the
//! sources' melodic voices keep (their 5th to 95th percentile pitch). A learned token is
//! taken only where both its intervals hold in the melody's key: its scale steps lead to a
//! note of the key lying its semitones away, so the melody leaps a tritone only where the
//! sources did, not wherever three scale steps were learned. Notes are drawn in the major
//! or natural minor scale; in minor a seventh rising to the tonic is then raised (and a
//! sixth rising to it), unless that would make a tritone or an augmented second.

use super::generator;
use super::model::{Model, Token};
use super::stats::percentile;
use crate::rng::SplitMix64;

/// The key a melody is drawn in, as the pitches of its staff positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scale {
    /// MIDI pitch of staff position 0, the reference tonic.
    pub tonic_midi: i32,
    /// Semitones above the tonic of each scale degree.
    pub degrees: [i32; 7],
    /// Degrees that may sound a semitone higher (minor's sixth and seventh).
    pub raisable: [bool; 7],
}

impl Scale {
    pub fn major(tonic_midi: i32) -> Self {
        Self {
            tonic_midi,
            degrees: [0, 2, 4, 5, 7, 9, 11],
            raisable: [false; 7],
        }
    }

    /// Natural minor, with the sixth and seventh raisable.
    pub fn minor(tonic_midi: i32) -> Self {
        Self {
            tonic_midi,
            degrees: [0, 2, 3, 5, 7, 8, 10],
            raisable: [false, false, false, false, false, true, true],
        }
    }

    /// The scale degree (0 the tonic) of a staff position.
    pub fn degree(pos: i32) -> usize {
        pos.rem_euclid(7) as usize
    }

    /// The MIDI pitch of a staff position, raised by `alter` semitones.
    pub fn midi(&self, pos: i32, alter: i32) -> i32 {
        self.tonic_midi + 12 * pos.div_euclid(7) + self.degrees[Self::degree(pos)] + alter
    }
}

/// Whether an interval of `step` scale steps and `semis` semitones is major, minor or
/// perfect (no tritone, no augmented second, no diminished fourth), in its direction.
pub fn plain(step: i32, semis: i32) -> bool {
    if step == 0 || semis == 0 {
        return step == 0 && semis == 0;
    }
    if step.signum() != semis.signum() {
        return false;
    }
    let (steps, semis) = (step.abs(), semis.abs());
    let m = semis - 12 * (steps / 7);
    match steps % 7 {
        0 => m == 0,
        1 => (1..=2).contains(&m),
        2 => (3..=4).contains(&m),
        3 => m == 5,
        4 => m == 7,
        5 => (8..=9).contains(&m),
        _ => (10..=11).contains(&m),
    }
}

/// Whether an interval in semitones is a tritone (or a compound one).
pub fn is_tritone(semis: i32) -> bool {
    semis.abs() % 12 == 6
}

/// What a generated melody must fit.
#[derive(Clone, Debug)]
pub struct Frame {
    pub bar_ticks: u32,
    pub measures: u32,
    /// Beat length in ticks (for a one-bar melody's final note).
    pub beat_ticks: u32,
    pub scale: Scale,
    /// Lowest and highest MIDI pitch allowed.
    pub low_midi: i32,
    pub high_midi: i32,
    /// Where the melody should sit: the staff position nearest the sources' median pitch.
    pub center: i32,
}

/// A generated note: staff position relative to the reference tonic, its alteration (1 for
/// a raised sixth or seventh in minor), onset and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenNote {
    pub pos: i32,
    pub alter: i32,
    pub start: u32,
    pub dur: u32,
}

/// How the notes were chosen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Provenance {
    /// Notes drawn with a context of each length (index = context length).
    pub by_order: Vec<usize>,
    /// Notes drawn ignoring the metric position (no token at this position fitted).
    pub position_free: usize,
    /// Notes whose length was cut or stretched to reach the barline.
    pub fitted: usize,
    /// Notes placed by rule: the first and the last tonic.
    pub forced: usize,
}

#[derive(Clone, Debug)]
pub struct Melody {
    pub notes: Vec<GenNote>,
    pub provenance: Provenance,
    /// The attempt (from 0) that gave this melody.
    pub attempt: usize,
}

impl Melody {
    /// The MIDI pitch of every note.
    pub fn midis(&self, scale: &Scale) -> Vec<i32> {
        self.notes
            .iter()
            .map(|n| scale.midi(n.pos, n.alter))
            .collect()
    }
}

impl Frame {
    fn total(&self) -> u32 {
        self.bar_ticks * self.measures
    }

    fn in_register(&self, midi: i32) -> bool {
        (self.low_midi..=self.high_midi).contains(&midi)
    }

    /// Where the final note starts: the last bar's downbeat, or for a one-bar melody the
    /// beat nearest its middle.
    fn final_start(&self) -> u32 {
        if self.measures >= 2 {
            self.bar_ticks * (self.measures - 1)
        } else {
            let half = self.bar_ticks / 2;
            let beat = self.beat_ticks.max(1);
            let start = (half / beat) * beat;
            if start == 0 {
                half
            } else {
                start
            }
        }
    }

    /// The tonics inside the register (else the one nearest the center).
    fn tonics(&self) -> Vec<i32> {
        let mut out: Vec<i32> = (-5..=6)
            .map(|o| 7 * o)
            .filter(|p| self.in_register(self.scale.midi(*p, 0)))
            .collect();
        if out.is_empty() {
            out.push((self.center as f64 / 7.0).round() as i32 * 7);
        }
        out
    }

    /// The register in staff positions above the reference tonic: the lowest and highest
    /// notes of the key (unaltered) inside it.
    pub fn degree_range(&self) -> (i32, i32) {
        let positions: Vec<i32> = (-40..=50)
            .filter(|p| self.in_register(self.scale.midi(*p, 0)))
            .collect();
        (
            positions.first().copied().unwrap_or(0),
            positions.last().copied().unwrap_or(0),
        )
    }
}

/// The 5th and 95th percentile of sorted MIDI pitches.
pub fn percentile_register(sorted_midis: &[i32]) -> (i32, i32) {
    (
        percentile(sorted_midis, 0.05),
        percentile(sorted_midis, 0.95),
    )
}

/// The register a melody is kept in: `low` to `high`, widened (upwards, then towards the
/// nearest tonic) where it is less than a major sixth wide or holds no tonic of `scale`.
pub fn kept_register(low: i32, high: i32, scale: &Scale) -> (i32, i32) {
    let (low, mut high) = (low, high.max(low));
    if high - low < 9 {
        high = low + 9;
    }
    let tonic_in = |lo: i32, hi: i32| (lo..=hi).any(|m| (m - scale.tonic_midi).rem_euclid(12) == 0);
    if tonic_in(low, high) {
        return (low, high);
    }
    let below = (1..12)
        .find(|d| (low - d - scale.tonic_midi).rem_euclid(12) == 0)
        .unwrap_or(12);
    let above = (1..12)
        .find(|d| (high + d - scale.tonic_midi).rem_euclid(12) == 0)
        .unwrap_or(12);
    if below <= above {
        (low - below, high)
    } else {
        (low, high + above)
    }
}

/// The staff position whose pitch is nearest `midi` (the lower of two).
pub fn position_near(midi: i32, scale: &Scale) -> i32 {
    (-40..=50)
        .min_by_key(|p| (scale.midi(*p, 0) - midi).abs())
        .unwrap_or(0)
}

/// An index below `n` that consumes a draw even when `n` is 0 (and is then 0), unlike
/// [`SplitMix64::below`]: the draws after it stay where they always were, so a seed keeps
/// its melody.
fn draw_index(rng: &mut SplitMix64, n: usize) -> usize {
    (rng.next_u64() % (n as u64).max(1)) as usize
}

fn sample<'a>(rng: &mut SplitMix64, options: &[(&'a Token, u32)]) -> &'a Token {
    let total: u64 = options.iter().map(|(_, c)| u64::from(*c)).sum();
    let mut pick = rng.below(total);
    for (token, count) in options {
        if pick < u64::from(*count) {
            return token;
        }
        pick -= u64::from(*count);
    }
    options[options.len() - 1].0
}

/// One melody being drawn.
struct Drawing<'a> {
    model: &'a Model,
    frame: &'a Frame,
    rng: SplitMix64,
    history: Vec<Token>,
    notes: Vec<GenNote>,
    provenance: Provenance,
}

impl<'a> Drawing<'a> {
    /// Where `tok` leads from `from`: a staff position of the key inside the register, if
    /// its steps and semitones agree there. (Every note is in the scale while drawing:
    /// alterations come after.)
    fn landing(&self, from: &GenNote, tok: &Token) -> Option<i32> {
        if tok.step == Token::FIRST || tok.step == Token::BOS.step {
            return None;
        }
        let scale = &self.frame.scale;
        let pos = from.pos + i32::from(tok.step);
        let midi = scale.midi(from.pos, 0) + i32::from(tok.semis);
        (midi == scale.midi(pos, 0) && self.frame.in_register(midi)).then_some(pos)
    }

    fn fits(&self, tok: &Token, in_bar: u32, room: u32, with_pos: bool) -> bool {
        if with_pos && u32::from(tok.pos) != in_bar {
            return false;
        }
        if tok.dur == 0 || u32::from(tok.dur) > room {
            return false;
        }
        match self.notes.last() {
            None => true,
            Some(current) => self.landing(current, tok).is_some(),
        }
    }

    /// A learned token that fits here: from the longest context that has one, else from
    /// the unigram ignoring the metric position.
    fn choose(&mut self, in_bar: u32, room: u32) -> Option<Token> {
        let model = self.model;
        for k in (0..=model.order).rev() {
            let Some(next) = model.continuations(&self.history, k) else {
                continue;
            };
            let options: Vec<(&Token, u32)> = next
                .iter()
                .filter(|(tok, _)| self.fits(tok, in_bar, room, true))
                .map(|(t, c)| (t, *c))
                .collect();
            if !options.is_empty() {
                self.provenance.by_order[k] += 1;
                return Some(*sample(&mut self.rng, &options));
            }
        }
        let next = model.continuations(&self.history, 0)?;
        let options: Vec<(&Token, u32)> = next
            .iter()
            .filter(|(tok, _)| self.fits(tok, in_bar, room, false))
            .map(|(t, c)| (t, *c))
            .collect();
        if options.is_empty() {
            return None;
        }
        self.provenance.position_free += 1;
        Some(*sample(&mut self.rng, &options))
    }

    /// Nothing learned fits the room left in the bar: a plain step or third of the key,
    /// lengthened or shortened to reach the barline.
    fn fitted(&mut self, in_bar: u32, room: u32) -> Token {
        self.provenance.fitted += 1;
        let scale = self.frame.scale;
        let step = match self.notes.last() {
            None => 0,
            Some(c) => {
                let from = scale.midi(c.pos, 0);
                let candidates: Vec<i32> = [1, -1, 2, -2, 0]
                    .into_iter()
                    .filter(|s| {
                        let to = scale.midi(c.pos + s, 0);
                        self.frame.in_register(to) && (*s == 0 || plain(*s, to - from))
                    })
                    .collect();
                candidates
                    .get(draw_index(&mut self.rng, candidates.len()))
                    .copied()
                    .unwrap_or(0)
            }
        };
        let semis = match self.notes.last() {
            Some(c) => scale.midi(c.pos + step, 0) - scale.midi(c.pos, 0),
            None => 0,
        };
        Token {
            step: step as i8,
            semis: semis as i8,
            dur: room as u16,
            pos: in_bar as u16,
        }
    }

    /// Draws the note at `t` and returns its length.
    fn note_at(&mut self, t: u32, room: u32, first_pos: i32) -> u32 {
        let in_bar = t % self.frame.bar_ticks;
        let token = match self.choose(in_bar, room) {
            Some(tok) => tok,
            None => self.fitted(in_bar, room),
        };
        let scale = self.frame.scale;
        let pos = match self.notes.last() {
            None => {
                self.provenance.forced += 1;
                first_pos
            }
            Some(c) => self
                .landing(c, &token)
                .unwrap_or(c.pos + i32::from(token.step)),
        };
        let (step, semis) = match self.notes.last() {
            None => (Token::FIRST, 0),
            Some(c) => (
                (pos - c.pos) as i8,
                (scale.midi(pos, 0) - scale.midi(c.pos, 0)) as i8,
            ),
        };
        let dur = u32::from(token.dur).min(room);
        self.notes.push(GenNote {
            pos,
            alter: 0,
            start: t,
            dur,
        });
        self.history.push(Token {
            step,
            semis,
            dur: dur as u16,
            pos: in_bar as u16,
        });
        dur
    }
}

/// In minor, a seventh rising by step to the tonic is raised (the leading tone), and a
/// sixth rising to it with it, where every interval touched stays plain (no tritone, no
/// augmented second) and the register holds.
fn raise_leading_tones(notes: &mut [GenNote], frame: &Frame) {
    let scale = frame.scale;
    if !scale.raisable[6] {
        return;
    }
    for i in 0..notes.len().saturating_sub(1) {
        let (n, next) = (notes[i], notes[i + 1]);
        if Scale::degree(n.pos) != 6 || n.alter != 0 || next.pos != n.pos + 1 {
            continue;
        }
        let mut changed = vec![i];
        if let Some(j) = i.checked_sub(1) {
            let sixth = notes[j];
            if sixth.pos == n.pos - 1 && sixth.alter == 0 && scale.raisable[5] {
                changed.insert(0, j);
            }
        }
        let trial = &*notes;
        let midi = |k: usize| {
            let alter = if changed.contains(&k) {
                1
            } else {
                trial[k].alter
            };
            scale.midi(trial[k].pos, alter)
        };
        let ok = changed.iter().all(|&c| {
            frame.in_register(midi(c))
                && (c == 0 || plain(trial[c].pos - trial[c - 1].pos, midi(c) - midi(c - 1)))
                && plain(trial[c + 1].pos - trial[c].pos, midi(c + 1) - midi(c))
        });
        if ok {
            for &c in &changed {
                notes[c].alter = 1;
            }
        }
    }
}

/// Draws one melody. `attempt` varies the draw for the same seed.
fn draw(model: &Model, frame: &Frame, seed: u64, attempt: usize) -> Melody {
    let rng = generator(
        seed.wrapping_mul(0x100_0000_01B3)
            .wrapping_add(attempt as u64),
    );
    let mut drawing = Drawing {
        model,
        frame,
        rng,
        history: vec![Token::BOS; model.order],
        notes: Vec::new(),
        provenance: Provenance {
            by_order: vec![0; model.order + 1],
            ..Provenance::default()
        },
    };
    let final_start = frame.final_start();
    let total = frame.total();
    let tonics = frame.tonics();
    let first_pos = tonics
        .iter()
        .copied()
        .min_by_key(|p| (p - frame.center).abs())
        .unwrap_or(0);

    let mut t = 0u32;
    while t < final_start {
        let in_bar = t % frame.bar_ticks;
        let room = (frame.bar_ticks - in_bar).min(final_start - t);
        t += drawing.note_at(t, room, first_pos);
    }
    // The final tonic, nearest the last note.
    let mut notes = drawing.notes;
    let mut provenance = drawing.provenance;
    let last = notes.last().map(|n| n.pos).unwrap_or(first_pos);
    let final_pos = tonics
        .iter()
        .copied()
        .min_by_key(|p| ((p - last).abs(), (p - frame.center).abs()))
        .unwrap_or(first_pos);
    notes.push(GenNote {
        pos: final_pos,
        alter: 0,
        start: final_start,
        dur: total - final_start,
    });
    provenance.forced += 1;
    raise_leading_tones(&mut notes, frame);
    Melody {
        notes,
        provenance,
        attempt,
    }
}

/// The most attempts made to find a melody that reaches its final tonic by step.
pub const ATTEMPTS: usize = 64;

/// Draws melodies until one reaches its final tonic by step (else by a third, else the
/// smallest approach found), deterministically for the seed. In minor a step up from a
/// seventh left unraised counts as a third.
pub fn generate(model: &Model, frame: &Frame, seed: u64) -> Melody {
    let mut best: Option<(i32, Melody)> = None;
    for attempt in 0..ATTEMPTS {
        let melody = draw(model, frame, seed, attempt);
        let n = melody.notes.len();
        let (approach, plain_seventh) = match n.checked_sub(2).and_then(|i| melody.notes.get(i..)) {
            Some([before, last]) => (
                (last.pos - before.pos).abs(),
                frame.scale.raisable[6] && last.pos == before.pos + 1 && before.alter == 0,
            ),
            _ => (0, false),
        };
        // A repeated tonic is no approach; a step is best, then a third.
        let score = match approach {
            1 if plain_seventh => 1,
            1 => 0,
            2 => 1,
            0 if n >= 2 => 3,
            0 => 0,
            a => 1 + a,
        };
        if score == 0 {
            return melody;
        }
        if best.as_ref().is_none_or(|(s, _)| score < *s) {
            best = Some((score, melody));
        }
    }
    match best {
        Some((_, m)) => m,
        None => draw(model, frame, seed, 0),
    }
}

#[cfg(test)]
mod tests;
