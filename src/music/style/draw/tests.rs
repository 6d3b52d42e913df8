use super::*;
use crate::music::style::model::Line;

/// A line of (scale steps, duration) in C major from middle C, its semitones from the
/// scale.
fn line(steps_durs: &[(i8, u16)], bar: u16) -> Line {
    let scale = Scale::major(60);
    let mut pos = 0u16;
    let mut tokens = Vec::new();
    let mut p = 0;
    let mut positions = Vec::new();
    for (i, (s, d)) in steps_durs.iter().enumerate() {
        let next = if i == 0 { 0 } else { p + i32::from(*s) };
        tokens.push(Token {
            step: if i == 0 { Token::FIRST } else { *s },
            semis: if i == 0 {
                0
            } else {
                (scale.midi(next, 0) - scale.midi(p, 0)) as i8
            },
            dur: *d,
            pos,
        });
        p = next;
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

fn frame(scale: Scale, low_midi: i32, high_midi: i32, center: i32) -> Frame {
    Frame {
        bar_ticks: 24, // 3/4: positions never seen in 4/4 force back-off and fitting
        measures: 6,
        beat_ticks: 8,
        scale,
        low_midi,
        high_midi,
        center,
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
    let frame = frame(Scale::major(60), 55, 76, 2);
    for seed in 0..20 {
        let m = generate(&model, &frame, seed);
        let total: u32 = m.notes.iter().map(|n| n.dur).sum();
        assert_eq!(total, 24 * 6, "bars add up");
        for (n, midi) in m.notes.iter().zip(m.midis(&frame.scale)) {
            assert_eq!(
                n.start / 24,
                (n.start + n.dur - 1) / 24,
                "no note crosses a barline"
            );
            assert!((55..=76).contains(&midi), "{midi} in the register");
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

#[test]
fn fourths_learned_are_not_drawn_as_tritones() {
    // Perfect fourths up from C, E and G, and steps down; F and B are visited, but the
    // sources never leap a tritone.
    let l = line(
        &[
            (0, 8),
            (3, 8),
            (-1, 8),
            (3, 8),
            (-1, 8),
            (3, 8),
            (-1, 8),
            (-1, 8),
            (-3, 8),
            (-1, 8),
            (-1, 8),
            (3, 8),
            (-3, 8),
        ],
        24,
    );
    assert_eq!(l.tokens[1].semis, 5);
    let model = Model::learn(&[l], 2);
    let frame = frame(Scale::major(60), 53, 81, 4);
    let mut fourths = 0;
    for seed in 0..30 {
        let m = generate(&model, &frame, seed);
        let midis = m.midis(&frame.scale);
        for (w, n) in midis.windows(2).zip(m.notes.windows(2)) {
            let (steps, semis) = (n[1].pos - n[0].pos, w[1] - w[0]);
            assert!(!is_tritone(semis), "seed {seed}: a tritone {w:?}");
            if steps.abs() == 3 && semis.abs() == 5 {
                fourths += 1;
            }
        }
    }
    assert!(fourths > 20, "the fourths are still drawn ({fourths})");
}

#[test]
fn minor_raises_the_leading_tone_where_the_leap_before_stays_plain() {
    let scale = Scale::minor(57); // A3
    let frame = frame(scale, 55, 81, 4);
    let notes = |positions: &[i32]| -> Vec<GenNote> {
        positions
            .iter()
            .enumerate()
            .map(|(i, &pos)| GenNote {
                pos,
                alter: 0,
                start: 8 * i as u32,
                dur: 8,
            })
            .collect()
    };
    // E F G A: F# and G# (melodic minor).
    let mut rising = notes(&[4, 5, 6, 7]);
    raise_leading_tones(&mut rising, &frame);
    let alters: Vec<i32> = rising.iter().map(|n| n.alter).collect();
    assert_eq!(alters, [0, 1, 1, 0]);
    // D G A: D to G# would be a tritone; G stays.
    let mut leap = notes(&[3, 6, 7]);
    raise_leading_tones(&mut leap, &frame);
    assert!(leap.iter().all(|n| n.alter == 0));
    // G falling to F is no leading tone.
    let mut falling = notes(&[7, 6, 5]);
    raise_leading_tones(&mut falling, &frame);
    assert!(falling.iter().all(|n| n.alter == 0));
}

#[test]
fn intervals_registers_and_scales() {
    assert!(plain(3, 5) && !plain(3, 6) && !plain(4, 6) && plain(4, 7));
    assert!(plain(-1, -1) && !plain(1, 3) && plain(-7, -12) && plain(10, 17));
    assert!(!plain(1, -1) && plain(0, 0) && !plain(0, 1));
    assert!(is_tritone(6) && is_tritone(-6) && is_tritone(18) && !is_tritone(5));
    let c = Scale::major(60);
    assert_eq!((c.midi(-1, 0), c.midi(7, 0), c.midi(3, 0)), (59, 72, 65));
    let a = Scale::minor(57);
    assert_eq!((a.midi(6, 0), a.midi(6, 1), a.midi(2, 0)), (67, 68, 60));
    // Wide enough and holding a tonic: as given. Narrow: a sixth. No tonic: to one.
    assert_eq!(kept_register(62, 81, &c), (62, 81));
    assert_eq!(kept_register(64, 66, &c), (64, 73));
    assert_eq!(kept_register(61, 70, &Scale::major(59)), (61, 71));
    assert_eq!(position_near(69, &c), 5);
    let f = Frame {
        low_midi: 62,
        high_midi: 81,
        ..frame(c, 0, 0, 0)
    };
    assert_eq!(f.degree_range(), (1, 12));
}
