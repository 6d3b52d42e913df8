//! Prompts an assistant's user picks from a menu: analyse a piece, harmonise a melody,
//! write species counterpoint, compare two pieces. Each expands to one user message that
//! names the tools to call, in order, with the arguments filled in; the assistant does the
//! rest. Their arguments complete (`completions`).

use rmcp::ErrorData as McpError;
use serde_json::{json, Map, Value};

use crate::error::printable;

struct Argument {
    name: &'static str,
    description: &'static str,
    required: bool,
}

struct Prompt {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    arguments: &'static [Argument],
    /// The message, from the arguments (required ones are present).
    expand: fn(&Args) -> String,
}

const fn arg(name: &'static str, description: &'static str, required: bool) -> Argument {
    Argument {
        name,
        description,
        required,
    }
}

const PIECE: &str =
    "a stored score id, or a corpus name such as bach/bwv66.6 or builtin/chorale-g-major";

const PROMPTS: [Prompt; 4] = [
    Prompt {
        name: "analyze_piece",
        title: "Analyse a piece",
        description:
            "Key, harmony with cadences, chords and voice leading of one piece, explained.",
        arguments: &[
            arg("piece", PIECE, true),
            arg(
                "focus",
                "what to dwell on: all (default), harmony, voice leading, patterns",
                false,
            ),
        ],
        expand: analyze_piece,
    },
    Prompt {
        name: "harmonize_melody",
        title: "Harmonise a melody",
        description:
            "Four-part (or pop or jazz) harmony for a melody, checked for voice-leading faults.",
        arguments: &[
            arg("melody", PIECE, true),
            arg("style", "chorale (default), classical, pop or jazz", false),
        ],
        expand: harmonize_melody,
    },
    Prompt {
        name: "write_counterpoint",
        title: "Write species counterpoint",
        description:
            "A counterpoint line after Fux against a cantus firmus, with every rule checked.",
        arguments: &[
            arg("cantus_firmus", PIECE, true),
            arg("species", "1 to 5 (default 1)", false),
            arg(
                "position",
                "above (default) or below the cantus firmus",
                false,
            ),
        ],
        expand: write_counterpoint,
    },
    Prompt {
        name: "compare_pieces",
        title: "Compare two pieces",
        description:
            "Key, harmonic vocabulary, cadences and melodic patterns of two pieces side by side.",
        arguments: &[arg("first", PIECE, true), arg("second", PIECE, true)],
        expand: compare_pieces,
    },
];

/// A prompt's arguments as given.
pub struct Args(Map<String, Value>);

impl Args {
    fn get(&self, name: &str) -> Option<String> {
        match self.0.get(name)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
    fn or(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_string())
    }
}

/// How to get a piece into the store before using it: nothing when it is an id already
/// stored is not known here, so the assistant is told both ways.
fn load(piece: &str, id: &str) -> String {
    format!(
        "If \"{piece}\" is not a stored score id (list_scores shows them), import it first: import_score with source \"{piece}\" and score_id \"{id}\"; then use score_id \"{id}\"."
    )
}

/// A score id made from a piece's name (`bach/bwv66.6` → `bwv66_6`).
fn id_for(piece: &str) -> String {
    let base = piece.rsplit('/').next().unwrap_or(piece);
    let id: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if id.is_empty() {
        "piece".into()
    } else {
        id
    }
}

fn analyze_piece(a: &Args) -> String {
    let piece = a.or("piece", "");
    let id = id_for(&piece);
    let focus = a.or("focus", "all");
    format!(
        "Analyse the piece \"{piece}\" with the music21-prod tools. {}\n\
         1. score_info: parts, measures, time and key signatures.\n\
         2. key_analysis (algorithm \"all\", window_measures 4): the key, how sure it is, and any modulations.\n\
         3. harmony_analysis: the Roman numerals and functions, and every cadence with its measure.\n\
         4. chord_analysis: the chord vocabulary (the summary's most common chords and qualities).\n\
         5. voice_leading_analysis: parallel fifths and octaves, hidden fifths, crossings.\n\
         6. pattern_recognition: repeated motifs, sequences and phrases.\n\
         Focus on: {focus}. Explain what you find as a theory teacher would, citing measures, and say where the analysis is uncertain.",
        load(&piece, &id)
    )
}

fn harmonize_melody(a: &Args) -> String {
    let melody = a.or("melody", "");
    let id = id_for(&melody);
    let style = a.or("style", "chorale");
    format!(
        "Harmonise the melody \"{melody}\" in {style} style with the music21-prod tools. {}\n\
         1. harmonize_melody with score_id \"{id}\", style \"{style}\", new_score_id \"{id}-harmonized\" and seed 1.\n\
         2. Read its chords and cadences, and the faults it reports; run voice_leading_analysis on \"{id}-harmonized\" to confirm.\n\
         3. export_score \"{id}-harmonized\" as musicxml if the user wants the file.\n\
         Present the progression measure by measure with Roman numerals, and explain the cadences and any remaining faults.",
        load(&melody, &id)
    )
}

fn write_counterpoint(a: &Args) -> String {
    let cantus = a.or("cantus_firmus", "");
    let id = id_for(&cantus);
    let species = a.or("species", "1");
    let position = a.or("position", "above");
    format!(
        "Write species counterpoint (species {species}, {position} the cantus firmus) on \"{cantus}\" with the music21-prod tools. {}\n\
         1. generate_counterpoint with score_id \"{id}\", species {species}, voice \"{position}\", new_score_id \"{id}-species{species}\" and seed 1.\n\
         2. Go through its rule checks: say which rules pass, and for any violation the measure and notes.\n\
         3. export_score \"{id}-species{species}\" as musicxml or abc for the user.\n\
         Explain the line's shape (climax, leaps and their recovery, the cadence) as a counterpoint teacher would.",
        load(&cantus, &id)
    )
}

fn compare_pieces(a: &Args) -> String {
    let (first, second) = (a.or("first", ""), a.or("second", ""));
    let (a_id, b_id) = (id_for(&first), format!("{}-2", id_for(&second)));
    format!(
        "Compare \"{first}\" and \"{second}\" with the music21-prod tools. {} {}\n\
         For each: score_info, key_analysis, harmony_analysis (cadences), chord_analysis (the summary) and pattern_recognition.\n\
         Then compare them side by side: key and mode, harmonic vocabulary and rhythm, cadence types and places, texture, and melodic patterns. Cite measures.",
        load(&first, &a_id),
        load(&second, &b_id)
    )
}

/// `prompts/list`.
pub fn list() -> Value {
    let prompts: Vec<Value> = PROMPTS
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "title": p.title,
                "description": p.description,
                "arguments": p.arguments.iter().map(|a| json!({
                    "name": a.name,
                    "description": a.description,
                    "required": a.required,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({"prompts": prompts})
}

/// `prompts/get`.
pub fn get(name: &str, arguments: Option<Map<String, Value>>) -> Result<Value, McpError> {
    let Some(prompt) = PROMPTS.iter().find(|p| p.name == name) else {
        return Err(McpError::invalid_params(
            format!(
                "unknown prompt '{}'; the prompts are: {}",
                printable(name, 64),
                PROMPTS.map(|p| p.name).join(", ")
            ),
            None,
        ));
    };
    let args = Args(arguments.unwrap_or_default());
    for a in prompt.arguments.iter().filter(|a| a.required) {
        if args.get(a.name).is_none() {
            return Err(McpError::invalid_params(
                format!(
                    "prompt {} needs the argument '{}': {}",
                    prompt.name, a.name, a.description
                ),
                None,
            ));
        }
    }
    Ok(json!({
        "description": prompt.description,
        "messages": [{
            "role": "user",
            "content": {"type": "text", "text": (prompt.expand)(&args)},
        }],
    }))
}

/// The argument names a prompt takes, for completions.
pub fn argument_names(prompt: &str) -> Vec<&'static str> {
    PROMPTS
        .iter()
        .find(|p| p.name == prompt)
        .map(|p| p.arguments.iter().map(|a| a.name).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> Option<Map<String, Value>> {
        v.as_object().cloned()
    }

    #[test]
    fn every_prompt_expands_naming_its_tools_and_arguments() {
        let got = get("analyze_piece", args(json!({"piece": "bach/bwv66.6"}))).unwrap();
        let text = got["messages"][0]["content"]["text"].as_str().unwrap();
        for needle in [
            "import_score",
            "\"bach/bwv66.6\"",
            "bwv66_6",
            "harmony_analysis",
        ] {
            assert!(text.contains(needle), "{needle} missing: {text}");
        }
        let got = get(
            "write_counterpoint",
            args(json!({"cantus_firmus": "cf", "species": 3, "position": "below"})),
        )
        .unwrap();
        let text = got["messages"][0]["content"]["text"].as_str().unwrap();
        assert!(
            text.contains("species 3") && text.contains("voice \"below\""),
            "{text}"
        );
        // The argument the prompt names is one the tool takes (it once said `position`,
        // which generate_counterpoint refuses as unknown).
        let tool = crate::tools::Registry::shared()
            .get("generate_counterpoint")
            .expect("the tool");
        assert!(tool.input_schema["properties"]["voice"].is_object());
        for p in PROMPTS {
            let all: Map<String, Value> = p
                .arguments
                .iter()
                .map(|a| (a.name.to_string(), json!("x")))
                .collect();
            assert!(get(p.name, Some(all)).is_ok(), "{}", p.name);
        }
    }

    #[test]
    fn a_missing_argument_or_an_unknown_prompt_is_invalid_params() {
        let e = get("compare_pieces", args(json!({"first": "a"}))).unwrap_err();
        assert!(e.message.contains("second"), "{}", e.message);
        assert_eq!(e.code.0, -32602);
        assert_eq!(get("nope", None).unwrap_err().code.0, -32602);
    }

    #[test]
    fn the_list_declares_each_argument() {
        let l = list();
        assert_eq!(l["prompts"].as_array().map(Vec::len), Some(4));
        assert_eq!(l["prompts"][0]["arguments"][0]["required"], true);
    }
}
