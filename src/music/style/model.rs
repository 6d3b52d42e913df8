//! A melody model learned from sources, and melodies drawn from it.
//!
//! Each note of a source line becomes a token joining three things: the scale-degree
//! interval from the note before (diatonic steps in the source's key), the note's duration
//! and its metric position (where in the bar it starts). A Markov chain of order two or more
//! counts which token follows each context of tokens; where a context was never seen (or
//! nothing seen after it fits), the chain backs off to shorter contexts, down to the
//! unigram. Generation fixes the metric position (it follows from the notes before), keeps
//! every note inside its bar, starts and ends on the tonic, and stays in the register the
//! sources use. [`super::stats`] compares the result with its sources and with a uniform
//! random walk.

use std::collections::BTreeMap;

use super::generator;
use super::stats::percentile;
use crate::rng::SplitMix64;

/// A note of a line as the model sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token {
    /// Diatonic steps from the note before; [`Token::FIRST`] for a line's first note.
    pub step: i8,
    /// Duration in ticks.
    pub dur: u16,
    /// Onset within the bar, in ticks.
    pub pos: u16,
}

impl Token {
    /// The step of a line's first note, which has no interval.
    pub const FIRST: i8 = i8::MAX;
    /// Pads contexts before a line's first note.
    pub const BOS: Token = Token {
        step: i8::MIN,
        dur: 0,
        pos: 0,
    };
}

/// A source line: tokens, and each note's staff position relative to the line's tonic.
#[derive(Clone, Debug, Default)]
pub struct Line {
    pub tokens: Vec<Token>,
    /// Diatonic steps above the line's reference tonic (the tonic at or below its median).
    pub positions: Vec<i32>,
    /// Semitone span of the line.
    pub span: i32,
    pub lowest_midi: i32,
    pub highest_midi: i32,
}

/// Counts of tokens after contexts of every length up to the order.
#[derive(Clone, Debug)]
pub struct Model {
    pub order: usize,
    tables: Vec<BTreeMap<Vec<Token>, BTreeMap<Token, u32>>>,
    /// Token counts over all lines, for statistics.
    pub notes: usize,
    pub lines: usize,
}

impl Model {
    pub fn learn(lines: &[Line], order: usize) -> Self {
        let mut tables = vec![BTreeMap::new(); order + 1];
        let mut notes = 0;
        for line in lines {
            let padded: Vec<Token> = std::iter::repeat_n(Token::BOS, order)
                .chain(line.tokens.iter().copied())
                .collect();
            for i in order..padded.len() {
                notes += 1;
                for (k, table) in tables.iter_mut().enumerate() {
                    let context = padded[i - k..i].to_vec();
                    *table
                        .entry(context)
                        .or_insert_with(BTreeMap::new)
                        .entry(padded[i])
                        .or_insert(0u32) += 1;
                }
            }
        }
        Self {
            order,
            tables,
            notes,
            lines: lines.len(),
        }
    }

    /// Contexts seen, per length.
    pub fn contexts(&self) -> Vec<usize> {
        self.tables.iter().map(|t| t.len()).collect()
    }

    fn continuations(&self, history: &[Token], k: usize) -> Option<&BTreeMap<Token, u32>> {
        let context = &history[history.len() - k..];
        self.tables.get(k)?.get(context)
    }
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

/// What a generated melody must fit.
#[derive(Clone, Debug)]
pub struct Frame {
    pub bar_ticks: u32,
    pub measures: u32,
    /// Lowest and highest staff position allowed, relative to the reference tonic.
    pub lo: i32,
    pub hi: i32,
    /// Where the melody should sit: the sources' median position.
    pub center: i32,
    /// Beat length in ticks (for a one-bar melody's final note).
    pub beat_ticks: u32,
}

/// A generated note: staff position relative to the reference tonic, onset and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenNote {
    pub pos: i32,
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

impl Frame {
    fn total(&self) -> u32 {
        self.bar_ticks * self.measures
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

    fn tonics(&self) -> Vec<i32> {
        let mut out: Vec<i32> = (-2..=3)
            .map(|o| 7 * o)
            .filter(|p| (self.lo..=self.hi).contains(p))
            .collect();
        if out.is_empty() {
            let nearest = (-2..=3)
                .map(|o| 7 * o)
                .min_by_key(|p| (p - self.center).abs())
                .unwrap_or(0);
            out.push(nearest);
        }
        out
    }
}

/// Draws one melody. `attempt` varies the draw for the same seed.
fn draw(model: &Model, frame: &Frame, seed: u64, attempt: usize) -> Melody {
    let mut rng = generator(
        seed.wrapping_mul(0x100_0000_01B3)
            .wrapping_add(attempt as u64),
    );
    let order = model.order;
    let mut history: Vec<Token> = vec![Token::BOS; order];
    let mut notes: Vec<GenNote> = Vec::new();
    let mut provenance = Provenance {
        by_order: vec![0; order + 1],
        ..Provenance::default()
    };
    let final_start = frame.final_start();
    let total = frame.total();
    let tonics = frame.tonics();
    let first_pos = *tonics
        .iter()
        .min_by_key(|p| (**p - frame.center).abs())
        .expect("a tonic");

    let mut t = 0u32;
    while t < final_start {
        let in_bar = t % frame.bar_ticks;
        let room = (frame.bar_ticks - in_bar).min(final_start - t);
        let current = notes.last().map(|n| n.pos);
        let fits = |tok: &Token, with_pos: bool| {
            if with_pos && u32::from(tok.pos) != in_bar {
                return false;
            }
            if tok.dur == 0 || u32::from(tok.dur) > room {
                return false;
            }
            match current {
                None => true,
                Some(p) => {
                    tok.step != Token::FIRST
                        && tok.step != Token::BOS.step
                        && (frame.lo..=frame.hi).contains(&(p + i32::from(tok.step)))
                }
            }
        };
        let mut chosen: Option<Token> = None;
        for k in (0..=order).rev() {
            let Some(next) = model.continuations(&history, k) else {
                continue;
            };
            let options: Vec<(&Token, u32)> = next
                .iter()
                .filter(|(tok, _)| fits(tok, true))
                .map(|(t, c)| (t, *c))
                .collect();
            if !options.is_empty() {
                chosen = Some(*sample(&mut rng, &options));
                provenance.by_order[k] += 1;
                break;
            }
        }
        if chosen.is_none() {
            if let Some(next) = model.continuations(&history, 0) {
                let options: Vec<(&Token, u32)> = next
                    .iter()
                    .filter(|(tok, _)| fits(tok, false))
                    .map(|(t, c)| (t, *c))
                    .collect();
                if !options.is_empty() {
                    chosen = Some(*sample(&mut rng, &options));
                    provenance.position_free += 1;
                }
            }
        }
        let token = match chosen {
            Some(tok) => tok,
            None => {
                // Nothing learned fits the room left in the bar: a step the sources take,
                // lengthened or shortened to reach the barline.
                provenance.fitted += 1;
                let step = match current {
                    None => 0,
                    Some(p) => {
                        let candidates: Vec<i32> = [1, -1, 2, -2, 0]
                            .into_iter()
                            .filter(|s| (frame.lo..=frame.hi).contains(&(p + s)))
                            .collect();
                        candidates
                            .get(draw_index(&mut rng, candidates.len()))
                            .copied()
                            .unwrap_or(0)
                    }
                };
                Token {
                    step: step as i8,
                    dur: room as u16,
                    pos: in_bar as u16,
                }
            }
        };
        let pos = match current {
            None => {
                provenance.forced += 1;
                first_pos
            }
            Some(p) => p + i32::from(token.step),
        };
        let dur = u32::from(token.dur).min(room);
        notes.push(GenNote { pos, start: t, dur });
        history.push(Token {
            step: if current.is_none() {
                Token::FIRST
            } else {
                token.step
            },
            dur: dur as u16,
            pos: in_bar as u16,
        });
        t += dur;
    }
    // The final tonic, nearest the last note.
    let last = notes.last().map(|n| n.pos).unwrap_or(first_pos);
    let final_pos = *tonics
        .iter()
        .min_by_key(|p| ((**p - last).abs(), (**p - frame.center).abs()))
        .expect("a tonic");
    notes.push(GenNote {
        pos: final_pos,
        start: final_start,
        dur: total - final_start,
    });
    provenance.forced += 1;
    Melody {
        notes,
        provenance,
        attempt,
    }
}

/// The register the sources keep, in scale steps above their tonic: the 5th to 95th
/// percentile, at least a sixth wide and reaching a tonic; and its middle. What a
/// [`Frame`]'s `lo`, `hi` and `center` are made of.
pub fn register(lines: &[Line]) -> (i32, i32, i32) {
    let mut positions: Vec<i32> = lines
        .iter()
        .flat_map(|l| l.positions.iter().copied())
        .collect();
    positions.sort_unstable();
    let (mut lo, mut hi) = (percentile(&positions, 0.05), percentile(&positions, 0.95));
    if hi - lo < 5 {
        hi = lo + 5;
    }
    if !(lo..=hi).any(|p| p.rem_euclid(7) == 0) {
        lo = lo.min(0);
        hi = hi.max(0);
    }
    (lo, hi, percentile(&positions, 0.5))
}

/// The most attempts made to find a melody that reaches its final tonic by step.
pub const ATTEMPTS: usize = 64;

/// Draws melodies until one reaches its final tonic by step (else by a third, else the
/// smallest approach found), deterministically for the seed.
pub fn generate(model: &Model, frame: &Frame, seed: u64) -> Melody {
    let mut best: Option<(i32, Melody)> = None;
    for attempt in 0..ATTEMPTS {
        let melody = draw(model, frame, seed, attempt);
        let n = melody.notes.len();
        let approach = if n >= 2 {
            (melody.notes[n - 1].pos - melody.notes[n - 2].pos).abs()
        } else {
            0
        };
        // A repeated tonic is no approach; a step is best, then a third.
        let score = match approach {
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
    best.map(|(_, m)| m).expect("at least one attempt")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(steps_durs: &[(i8, u16)], bar: u16) -> Line {
        let mut pos = 0u16;
        let mut tokens = Vec::new();
        let mut p = 0;
        let mut positions = Vec::new();
        for (i, (s, d)) in steps_durs.iter().enumerate() {
            tokens.push(Token {
                step: if i == 0 { Token::FIRST } else { *s },
                dur: *d,
                pos,
            });
            if i > 0 {
                p += i32::from(*s);
            }
            positions.push(p);
            pos = (pos + d) % bar;
        }
        Line {
            tokens,
            positions,
            span: 12,
            lowest_midi: 60,
            highest_midi: 72,
        }
    }

    #[test]
    fn the_model_backs_off_and_fills_bars_exactly() {
        let l = line(
            &[
                (0, 8),
                (1, 8),
                (1, 8),
                (-1, 8),
                (-1, 16),
                (2, 8),
                (-2, 8),
                (-1, 16),
                (1, 8),
                (-1, 24),
            ],
            32,
        );
        let model = Model::learn(&[l.clone(), l], 2);
        assert_eq!(model.contexts()[0], 1);
        let frame = Frame {
            bar_ticks: 24, // 3/4: positions never seen in 4/4 force back-off and fitting
            measures: 6,
            lo: -3,
            hi: 9,
            center: 2,
            beat_ticks: 8,
        };
        for seed in 0..20 {
            let m = generate(&model, &frame, seed);
            let total: u32 = m.notes.iter().map(|n| n.dur).sum();
            assert_eq!(total, 24 * 6, "bars add up");
            for n in &m.notes {
                assert_eq!(
                    n.start / 24,
                    (n.start + n.dur - 1) / 24,
                    "no note crosses a barline"
                );
                assert!((frame.lo..=frame.hi).contains(&n.pos) || n.pos % 7 == 0);
            }
            assert_eq!(m.notes[0].pos.rem_euclid(7), 0, "starts on the tonic");
            assert_eq!(
                m.notes.last().unwrap().pos.rem_euclid(7),
                0,
                "ends on the tonic"
            );
            assert_eq!(
                generate(&model, &frame, seed).notes,
                m.notes,
                "deterministic"
            );
        }
    }
}
