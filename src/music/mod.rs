//! The music domain over music21-rs: formats, guards, parsing, the corpus, and the shared
//! views (timeline, summary) the tools build on.

pub mod confined;
pub mod corpus;
pub mod counterpoint;
pub mod description;
pub mod export;
pub mod format;
pub mod guard;
pub mod harmony_gen;
pub mod melody;
pub mod notation;
pub mod parse;
pub mod pitch;
pub mod style;
pub mod summary;
pub mod timeline;

pub use format::Format;
