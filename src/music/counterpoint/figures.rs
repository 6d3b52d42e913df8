//! The rhythmic figures a bar of each species may take, as the generator tries them: slots
//! of (onset, length) in eighths within the bar, and what choosing each one costs.

type Slots = &'static [(u32, u32)];

pub(super) struct Figure {
    pub(super) id: u8,
    pub(super) slots: Slots,
    pub(super) cost: f64,
    /// 4th species: this bar begins without a syncopation.
    pub(super) broken: bool,
}

const WHOLE: Slots = &[(0, 8)];
const HALVES: Slots = &[(0, 4), (4, 4)];
const QUARTERS: Slots = &[(0, 2), (2, 2), (4, 2), (6, 2)];
const SYNCOPE: Slots = &[(4, 8)];
const HELD_HALF: Slots = &[(4, 4)];
const HALF_SYNCOPE: Slots = &[(0, 4), (4, 8)];
const HALF_HALF_Q: Slots = &[(0, 4), (4, 2), (6, 2)];
const QQ_HALF: Slots = &[(0, 2), (2, 2), (4, 4)];
const QQ_SYNCOPE: Slots = &[(0, 2), (2, 2), (4, 8)];
const Q_EIGHTHS_QQ: Slots = &[(0, 2), (2, 1), (3, 1), (4, 2), (6, 2)];
const QQQ_EIGHTHS: Slots = &[(0, 2), (2, 2), (4, 2), (6, 1), (7, 1)];
const HALF_Q_EIGHTHS: Slots = &[(0, 4), (4, 2), (6, 1), (7, 1)];
const HELD_QQ: Slots = &[(4, 2), (6, 2)];
const HELD_Q_EIGHTHS: Slots = &[(4, 2), (6, 1), (7, 1)];

fn fig(id: u8, slots: Slots, cost: f64) -> Figure {
    Figure {
        id,
        slots,
        cost,
        broken: false,
    }
}

const BREAK_COST: f64 = 40.0;

/// The figures open to bar `bar` of `n`, given whether a note is tied into it.
pub(super) fn figures(species: u8, n: usize, bar: usize, held: bool) -> Vec<Figure> {
    let last = bar + 1 == n;
    let pen = bar + 2 == n;
    let ante = bar + 3 == n;
    if last {
        return if held {
            vec![]
        } else {
            vec![fig(0, WHOLE, 0.0)]
        };
    }
    match species {
        1 => vec![fig(0, WHOLE, 0.0)],
        2 => vec![fig(0, HALVES, 0.0)],
        3 => vec![fig(0, QUARTERS, 0.0)],
        4 => {
            if bar == 0 {
                vec![fig(1, SYNCOPE, 0.0), fig(2, HELD_HALF, BREAK_COST)]
            } else if pen {
                if held {
                    vec![fig(2, HELD_HALF, 0.0)]
                } else {
                    vec![Figure {
                        broken: true,
                        ..fig(3, HALVES, 0.0)
                    }]
                }
            } else if held {
                vec![fig(1, SYNCOPE, 0.0), fig(2, HELD_HALF, BREAK_COST)]
            } else {
                vec![
                    Figure {
                        broken: true,
                        ..fig(4, HALF_SYNCOPE, 0.0)
                    },
                    Figure {
                        broken: true,
                        ..fig(3, HALVES, BREAK_COST)
                    },
                ]
            }
        }
        _ => {
            if bar == 0 {
                if ante {
                    vec![fig(1, SYNCOPE, 0.0)]
                } else {
                    vec![
                        fig(1, SYNCOPE, 0.0),
                        fig(2, HELD_HALF, 0.4),
                        fig(3, HELD_QQ, 0.4),
                    ]
                }
            } else if pen {
                if held {
                    vec![fig(2, HELD_HALF, 0.0)]
                } else {
                    // A cadence without its suspension: only where none can be prepared.
                    vec![
                        Figure {
                            broken: true,
                            ..fig(7, HALVES, BREAK_COST)
                        },
                        Figure {
                            broken: true,
                            ..fig(9, QQ_HALF, BREAK_COST)
                        },
                    ]
                }
            } else if ante {
                if held {
                    vec![
                        fig(1, SYNCOPE, 0.0),
                        fig(2, HELD_HALF, 1.0),
                        fig(3, HELD_QQ, 1.0),
                    ]
                } else {
                    vec![
                        fig(5, HALF_SYNCOPE, 0.0),
                        fig(6, QQ_SYNCOPE, 0.0),
                        fig(7, HALVES, 1.0),
                        fig(8, HALF_HALF_Q, 1.0),
                        fig(9, QQ_HALF, 1.0),
                        fig(10, QUARTERS, 1.0),
                    ]
                }
            } else if held {
                vec![
                    fig(2, HELD_HALF, 0.6),
                    fig(3, HELD_QQ, 0.2),
                    fig(1, SYNCOPE, 0.3),
                    fig(4, HELD_Q_EIGHTHS, 1.0),
                ]
            } else {
                vec![
                    fig(7, HALVES, 0.8),
                    fig(8, HALF_HALF_Q, 0.3),
                    fig(9, QQ_HALF, 0.3),
                    fig(10, QUARTERS, 0.5),
                    fig(5, HALF_SYNCOPE, 0.2),
                    fig(6, QQ_SYNCOPE, 0.1),
                    fig(11, Q_EIGHTHS_QQ, 1.0),
                    fig(12, QQQ_EIGHTHS, 1.0),
                    fig(13, HALF_Q_EIGHTHS, 1.0),
                ]
            }
        }
    }
}
