//! The key to harmonise in when none is given: the profile's ranking of every key over the
//! score (what `key_analysis` reports), weighed with what the melody says of its key (its
//! final note, its fermatas, its key signature: see [`crate::music::harmony_gen::melody_key`]).

use music21_rs::{KeyProfile, Stream, StreamElement};

use super::key_def;
use crate::error::{ToolError, ToolResult};
use crate::music::harmony_gen::{melody_key, KeyDef, MelodyNote};
use crate::tools::analysis_common::{rank_keys, score_distribution, KeyCandidate};
use crate::tools::harmony::KeyUsed;

/// The first key signature written in the melody's part (sharps; flats negative).
fn signature(part: &Stream) -> Option<i32> {
    part.recurse().into_iter().find_map(|(_, e)| match e {
        StreamElement::KeySignature(ks) => Some(ks.sharps()),
        StreamElement::Key(k) => Some(k.sharps()),
        _ => None,
    })
}

/// The key of the melody in `part` of `score`, as [`KeyUsed`] reports it (source `melody`).
pub fn melody_key(
    score: &Stream,
    part: &Stream,
    notes: &[MelodyNote],
) -> ToolResult<(music21_rs::Key, KeyDef, KeyUsed)> {
    let ranked = rank_keys(KeyProfile::AardenEssen, &score_distribution(score)?)?;
    let mut candidates = Vec::with_capacity(ranked.len());
    for estimate in &ranked {
        candidates.push((key_def(estimate.key())?, estimate.score()));
    }
    let (chosen, _) = melody_key::choose(notes, signature(part), &candidates)
        .ok_or_else(|| ToolError::internal("the key finder ranked no keys"))?;
    let index = candidates
        .iter()
        .position(|(k, _)| *k == chosen)
        .ok_or_else(|| ToolError::internal("the chosen key is not among the ranked ones"))?;
    let estimate = &ranked[index];
    let found = KeyCandidate::of(estimate);
    let used = KeyUsed {
        tonic: found.tonic,
        mode: found.mode,
        name: found.name,
        source: "melody".into(),
        correlation: Some(found.correlation),
    };
    Ok((estimate.key().clone(), chosen, used))
}
