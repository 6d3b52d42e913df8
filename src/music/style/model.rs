//! A melody model learned from sources.
//!
//! Each note of a source line becomes a token joining four things: the scale-degree
//! interval from the note before (diatonic steps in the source's key), the same interval in
//! semitones (so that a perfect fourth and a tritone, both three steps, are told apart), the
//! note's duration and its metric position (where in the bar it starts). A Markov chain of
//! order two or more counts which token follows each context of tokens; where a context was
//! never seen (or nothing seen after it fits), the chain backs off to shorter contexts, down
//! to the unigram. [`super::draw`] draws melodies from it; [`super::stats`] compares the
//! result with its sources and with a uniform random walk.

use std::collections::BTreeMap;

/// A note of a line as the model sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token {
    /// Diatonic steps from the note before; [`Token::FIRST`] for a line's first note.
    pub step: i8,
    /// Semitones from the note before (0 for a line's first note).
    pub semis: i8,
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
        semis: 0,
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

    pub(super) fn continuations(
        &self,
        history: &[Token],
        k: usize,
    ) -> Option<&BTreeMap<Token, u32>> {
        let context = &history[history.len() - k..];
        self.tables.get(k)?.get(context)
    }
}
