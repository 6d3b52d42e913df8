//! `transpose_score`: a stored score moved by an interval or a number of semitones, stored
//! as a new score.

use music21_rs::Interval;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::export::ExportFormat;
use super::{check_export_size, store_generated, StoredResult};
use crate::error::{ToolError, ToolResult};
use crate::music::parse::catch_engine;
use crate::tools::{ensure_id_free, tool, validate_score_id, ToolContext, ToolDef};

pub(super) fn tool_def() -> ToolDef {
    tool(
        "transpose_score",
        "Transpose a stored score by an interval (\"P5\", \"-m3\") or a number of semitones, storing the result under new_score_id.",
        true,
        transpose_score,
    )
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransposeArgs {
    pub score_id: String,
    /// An interval name such as "P5", "M2", "-m3" (down a minor third). Give this or `semitones`.
    #[serde(default)]
    pub interval: Option<String>,
    /// A number of semitones (negative is down). Give this or `interval`.
    #[serde(default)]
    pub semitones: Option<i64>,
    /// Id for the transposed score.
    pub new_score_id: String,
    /// Replace an existing score with id `new_score_id`.
    #[serde(default)]
    pub replace: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TransposeOutput {
    pub score_id: String,
    pub new_score_id: String,
    /// The interval applied, e.g. `P5` or `m-3`.
    pub interval: String,
    #[serde(flatten)]
    pub stored: StoredResult,
}

/// Four octaves either way, in semitones: the most `transpose_score` moves a score.
const MAX_SEMITONES: i64 = 48;

/// The largest interval number within four octaves (a compound 29th is four octaves).
const MAX_INTERVAL_NUMBER: u32 = 29;

/// Checks an interval name's shape and range before the engine reads it (it overflows on
/// numbers like `P99999999999`): an optional sign, a quality (P, M, m, up to three d or A)
/// and a number from 1 to 29.
fn check_interval_name(name: &str) -> ToolResult<()> {
    let shown = crate::error::printable(name, 40);
    let bad = |why: String| {
        ToolError::invalid(format!(
            "interval '{shown}' {why}; write a quality and a number from 1 to {MAX_INTERVAL_NUMBER} (four octaves), like P5, M3, -m3 or A4"
        ))
    };
    let text = name.trim();
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let digits_at = unsigned
        .find(|c: char| c.is_ascii_digit())
        .ok_or_else(|| bad("has no interval number".into()))?;
    let (quality, number) = unsigned.split_at(digits_at);
    let quality_ok = matches!(quality, "P" | "M" | "m")
        || (1..=3).contains(&quality.len())
            && (quality.chars().all(|c| c == 'd') || quality.chars().all(|c| c == 'A'));
    if !quality_ok {
        return Err(bad(format!(
            "has quality '{}', not P, M, m, d or A",
            crate::error::printable(quality, 8)
        )));
    }
    if !number.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad("has more after its number".into()));
    }
    match number.parse::<u32>() {
        Ok(n) if (1..=MAX_INTERVAL_NUMBER).contains(&n) => Ok(()),
        _ => Err(bad(format!(
            "has number {}, outside 1..={MAX_INTERVAL_NUMBER}",
            crate::error::printable(number, 24)
        ))),
    }
}

fn transpose_score(ctx: &ToolContext, args: TransposeArgs) -> ToolResult<TransposeOutput> {
    validate_score_id(&args.new_score_id)?;
    let interval = match (&args.interval, args.semitones) {
        (Some(name), None) => {
            check_interval_name(name)?;
            Interval::from_name(name.trim()).map_err(|e| {
                ToolError::invalid(format!(
                    "interval '{}' is not an interval name like P5, M3 or -m3: {e}",
                    crate::error::printable(name, 40)
                ))
            })?
        }
        (None, Some(n)) => {
            // Checked as a range, not with abs(): -2^63 has no absolute value.
            if !(-MAX_SEMITONES..=MAX_SEMITONES).contains(&n) {
                return Err(ToolError::invalid(format!(
                    "semitones must be between -{MAX_SEMITONES} and {MAX_SEMITONES} (four octaves), got {n}"
                )));
            }
            Interval::from_semitones(n as music21_rs::IntegerType)
                .map_err(|e| ToolError::invalid(format!("semitones {n}: {e}")))?
        }
        (Some(_), Some(_)) => {
            return Err(ToolError::invalid(
                "give either interval or semitones, not both",
            ))
        }
        (None, None) => {
            return Err(ToolError::invalid(
                "missing argument: give interval (e.g. \"P5\") or semitones (e.g. -3)",
            ))
        }
    };
    if interval.semitones().abs() > 48.0 {
        return Err(ToolError::invalid(
            "the interval must be within four octaves",
        ));
    }
    ensure_id_free(ctx, "new_score_id", &args.new_score_id, args.replace)?;
    let loaded = ctx.load(&args.score_id)?;
    // Stored as MusicXML: estimated as such.
    check_export_size(
        ctx,
        &loaded.score,
        loaded.meta.bytes,
        ExportFormat::Musicxml,
    )?;
    crate::tools::progress::report(50.0, || "transposing".into());
    let transposed = catch_engine("transposing", || loaded.score.transpose(&interval))?
        .map_err(|e| ToolError::unsupported(format!("cannot transpose this score: {e}")))?;
    // Stored as MusicXML: the one format that writes everything back.
    let origin = format!(
        "transpose_score:{}:{}",
        args.score_id,
        interval.directed_name()
    );
    let stored = store_generated(
        ctx,
        &args.new_score_id,
        &transposed,
        &loaded.meta.format,
        &origin,
        args.replace,
    )?;
    Ok(TransposeOutput {
        score_id: args.score_id,
        new_score_id: args.new_score_id,
        interval: interval.directed_name(),
        stored,
    })
}
