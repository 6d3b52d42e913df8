//! How each tool presents itself to an MCP client: a title for menus, and what calling it
//! does to the store, said as MCP's tool annotations (`readOnlyHint`, `destructiveHint`,
//! `idempotentHint`; `openWorldHint` is false for all: every tool works on this server's
//! store, its corpus and its allowed files, nothing outside).

/// What a tool does to the stored scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Reads only: analyses, information, exports.
    Reads,
    /// Stores a score, replacing one of the same id when asked (`replace`).
    Stores,
    /// Deletes scores; deleting again changes nothing more.
    Deletes,
}

impl Effect {
    pub fn read_only(self) -> bool {
        self == Effect::Reads
    }
    /// May overwrite or remove what was stored.
    pub fn destructive(self) -> bool {
        self != Effect::Reads
    }
    /// The same call twice leaves the store as once.
    pub fn idempotent(self) -> bool {
        self != Effect::Stores
    }
}

/// Title and effect of every tool, by name.
const TOOLS: [(&str, &str, Effect); 15] = [
    ("import_score", "Import a score", Effect::Stores),
    ("list_scores", "List stored scores", Effect::Reads),
    ("score_info", "Score information", Effect::Reads),
    ("export_score", "Export a score", Effect::Reads),
    ("delete_score", "Delete scores", Effect::Deletes),
    ("transpose_score", "Transpose a score", Effect::Stores),
    ("key_analysis", "Key analysis", Effect::Reads),
    ("chord_analysis", "Chord analysis", Effect::Reads),
    (
        "harmony_analysis",
        "Roman numerals and cadences",
        Effect::Reads,
    ),
    ("harmonize_melody", "Harmonise a melody", Effect::Stores),
    (
        "voice_leading_analysis",
        "Voice-leading analysis",
        Effect::Reads,
    ),
    (
        "generate_counterpoint",
        "Species counterpoint",
        Effect::Stores,
    ),
    (
        "imitate_style",
        "Melody in the style of a corpus",
        Effect::Stores,
    ),
    (
        "pattern_recognition",
        "Melodic and rhythmic patterns",
        Effect::Reads,
    ),
    ("health_check", "Server health", Effect::Reads),
];

/// The title and effect of the tool `name`.
pub fn of(name: &str) -> Option<(&'static str, Effect)> {
    TOOLS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|&(_, title, effect)| (title, effect))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_tool_has_a_title_and_an_effect() {
        let registry = crate::tools::Registry::shared();
        for name in registry.names() {
            assert!(
                of(name).is_some(),
                "{name} has no entry in tools::presentation"
            );
        }
        assert_eq!(
            registry.names().len(),
            TOOLS.len(),
            "an entry names no tool"
        );
    }

    #[test]
    fn hints_follow_the_effect() {
        let (_, delete) = of("delete_score").unwrap();
        assert!(delete.destructive() && delete.idempotent() && !delete.read_only());
        let (_, import) = of("import_score").unwrap();
        assert!(import.destructive() && !import.idempotent());
        let (_, key) = of("key_analysis").unwrap();
        assert!(key.read_only() && !key.destructive());
    }
}
