//! The music domain over music21-rs: formats, guards, parsing, the corpus, the shared views
//! the tools build on (timeline, summary, description, melody, pitch, sonority, local_keys),
//! the writers (export, notation) and the three generators (harmony_gen, counterpoint,
//! style).

pub mod confined;
pub mod corpus;
pub mod counterpoint;
pub mod description;
pub mod export;
pub mod format;
pub mod guard;
pub mod harmony_gen;
pub mod local_keys;
pub mod melody;
pub mod notation;
pub mod parse;
pub mod pitch;
pub mod roman;
pub mod sonority;
pub mod style;
pub mod summary;
pub mod timeline;

pub use format::Format;
