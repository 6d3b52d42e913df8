//! A Standard MIDI File of the piece.

use super::piece::*;
use super::{Mode, SynthSpec};

/// The whole file of a normalized spec.
pub(super) fn file(spec: &SynthSpec) -> Vec<u8> {
    let mut tracks = vec![conductor_track(spec)];
    for part in 0..spec.parts {
        tracks.push(part_track(spec, part));
    }
    let mut out = Vec::with_capacity(14 + tracks.iter().map(|t| t.len() + 8).sum::<usize>());
    out.extend_from_slice(b"MThd");
    out.extend_from_slice(&6u32.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(tracks.len().min(u16::MAX as usize) as u16).to_be_bytes());
    out.extend_from_slice(&TICKS_PER_QUARTER.to_be_bytes());
    for track in tracks {
        out.extend_from_slice(b"MTrk");
        out.extend_from_slice(&(track.len() as u32).to_be_bytes());
        out.extend_from_slice(&track);
    }
    out
}
const TICKS_PER_UNIT: u32 = TICKS_PER_QUARTER as u32 / DIVISIONS;
/// 96 quarters a minute, as the ABC's `Q:` says.
const MICROSECONDS_PER_QUARTER: u32 = 625_000;

/// Tempo, meter and key, at time 0.
fn conductor_track(spec: &SynthSpec) -> Vec<u8> {
    let mut t = Vec::with_capacity(64);
    t.push(0);
    push_meta(&mut t, 0x03, b"Synthetic score");
    t.push(0);
    push_meta(&mut t, 0x51, &MICROSECONDS_PER_QUARTER.to_be_bytes()[1..]);
    t.push(0);
    let denominator_power = spec.beat_type.trailing_zeros() as u8;
    push_meta(&mut t, 0x58, &[spec.beats, denominator_power, 24, 8]);
    t.push(0);
    let minor = u8::from(spec.mode == Mode::Minor);
    push_meta(&mut t, 0x59, &[spec.key_fifths as u8, minor]);
    t.push(0);
    push_meta(&mut t, 0x2F, &[]);
    t
}

/// One part: its name, a program, then note on/off pairs; a tied pair is one long note and a
/// rest is a gap.
fn part_track(spec: &SynthSpec, part: usize) -> Vec<u8> {
    // Channel 10 (index 9) is percussion in General MIDI; skip it.
    let channel = match (part % 15) as u8 {
        c if c >= 9 => c + 1,
        c => c,
    };
    let mut t = Vec::with_capacity(64 + spec.measures * 40);
    t.push(0);
    push_meta(&mut t, 0x03, part_name(part).as_bytes());
    t.extend_from_slice(&[0, 0xC0 | channel, 52]); // choir aahs
    let mut pending_rest: u32 = 0;
    // The note sounding (key, ticks so far) while a tie carries it on.
    let mut sounding: Option<(u8, u32)> = None;
    for event in generate_part(spec, part).into_iter().flatten() {
        let ticks = event.units * TICKS_PER_UNIT;
        let Some(d) = event.pitch else {
            pending_rest += ticks;
            continue;
        };
        let key = midi_key(spec.key_fifths, d).clamp(0, 127) as u8;
        let length = match sounding.take() {
            Some((_, so_far)) if event.tie_stop => so_far + ticks,
            _ => {
                push_varlen(&mut t, pending_rest);
                pending_rest = 0;
                t.extend_from_slice(&[0x90 | channel, key, 80]);
                ticks
            }
        };
        if event.tie_start {
            sounding = Some((key, length));
            continue;
        }
        push_varlen(&mut t, length);
        t.extend_from_slice(&[0x80 | channel, key, 0]);
    }
    push_varlen(&mut t, pending_rest);
    push_meta(&mut t, 0x2F, &[]);
    t
}

fn push_meta(track: &mut Vec<u8>, kind: u8, data: &[u8]) {
    track.extend_from_slice(&[0xFF, kind]);
    push_varlen(track, data.len() as u32);
    track.extend_from_slice(data);
}

/// MIDI's variable-length quantity: seven bits a byte, most significant first.
fn push_varlen(track: &mut Vec<u8>, mut value: u32) {
    let mut bytes = [0u8; 5];
    let mut n = 0;
    loop {
        bytes[n] = (value & 0x7F) as u8;
        n += 1;
        value >>= 7;
        if value == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        track.push(if i > 0 { bytes[i] | 0x80 } else { bytes[i] });
    }
}
