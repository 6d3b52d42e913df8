//! Shared by the analysis tools: the key of a whole score, the chordified chords.
