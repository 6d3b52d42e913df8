//! The tool registry: every music tool with its JSON Schemas and handler.
//!
//! A tool is a plain function from typed arguments to a typed result. The registry turns it
//! into JSON in, JSON out, with argument errors that name the argument, and a panic in the
//! engine caught as an error. The CLI (`music21-prod tool`), the worker processes and the
//! MCP server all call tools through [`Registry::call`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use music21_rs::Stream;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::config::Config;
use crate::error::{ToolError, ToolResult};
use crate::music::format::Format;
use crate::music::parse::{catch_engine, parse_score};
use crate::store::{ScoreMeta, Store};

pub mod analysis_common;
pub mod chords;
pub mod counterpoint;
pub mod harmonize;
pub mod harmony;
pub mod health;
pub mod key;
pub mod patterns;
pub mod presentation;
pub mod progress;
pub mod scores;
pub mod style;
#[cfg(test)]
pub(crate) mod test_kit;
pub mod voice_leading;

/// What every tool call runs against.
pub struct ToolContext {
    pub config: Arc<Config>,
    pub store: Store,
    pub cache: ParsedCache,
    pub started: Instant,
}

/// A stored score, parsed.
#[derive(Clone)]
pub struct LoadedScore {
    pub meta: ScoreMeta,
    pub score: Arc<Stream>,
}

impl ToolContext {
    pub fn open(config: Config) -> ToolResult<Self> {
        let store = Store::open(&config.server.data_dir, &config.store)?;
        let cache = ParsedCache::new(
            config.store.parsed_cache_entries,
            config.store.parsed_cache_mb << 20,
        );
        Ok(Self {
            config: Arc::new(config),
            store,
            cache,
            started: Instant::now(),
        })
    }

    /// Reads a score from the store (checksum verified) and parses it, using the cache.
    ///
    /// A score parsed here before (or imported here) is served from the cache once the
    /// store says its record still holds the same source, which asks for one checksum
    /// instead of reading the record and hashing it twice: the parse was made from those
    /// bytes after they were verified. A record listed as corrupted, replaced or gone takes
    /// the full read, which says what is wrong.
    pub fn load(&self, score_id: &str) -> ToolResult<LoadedScore> {
        validate_score_id(score_id)?;
        if let Some((meta, score)) = self.cache.get(score_id) {
            if self.store.still_holds(score_id, &meta.sha256)? {
                return Ok(LoadedScore {
                    meta: ScoreMeta {
                        last_used_at: crate::store::now_secs(),
                        ..meta
                    },
                    score,
                });
            }
        }
        let stored = self.store.get(score_id)?;
        let format = Format::from_name(&stored.meta.format).ok_or_else(|| {
            crate::store::corrupted(score_id, "its format field names no known format")
        })?;
        let tune = stored.meta.summary.get("tune").and_then(Value::as_i64);
        progress::report(5.0, || {
            format!(
                "parsing score '{score_id}' ({} bytes of {})",
                stored.source.len(),
                stored.meta.format
            )
        });
        let score = Arc::new(parse_score(
            &stored.source,
            format,
            tune,
            &self.config.limits,
        )?);
        let cost = crate::resilience::parse_cost::of_stored(
            format,
            stored.source.len() as u64,
            &self.config.limits,
        );
        self.cache.put(stored.meta.clone(), score.clone(), cost);
        progress::report(40.0, || format!("score '{score_id}' parsed"));
        Ok(LoadedScore {
            meta: stored.meta,
            score,
        })
    }
}

/// Checks a score id: 1-128 characters of letters, digits and `._-:/`.
/// Refuses `id` (named `field` in the message) when a score already has it, unless
/// `replace` is set.
pub(crate) fn ensure_id_free(
    ctx: &ToolContext,
    field: &str,
    id: &str,
    replace: bool,
) -> ToolResult<()> {
    if !replace && ctx.store.exists(id)? {
        return Err(ToolError::new(
            crate::error::ErrorKind::AlreadyExists,
            format!("{field} '{id}' already exists; choose another id or pass \"replace\": true"),
        ));
    }
    Ok(())
}

/// A character a score id may hold.
pub fn is_score_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._-:/".contains(c)
}

pub fn validate_score_id(id: &str) -> ToolResult<()> {
    let ok = !id.is_empty() && id.len() <= 128 && id.chars().all(is_score_id_char);
    if ok {
        Ok(())
    } else {
        Err(ToolError::invalid(format!(
            "score_id '{}' is not valid: use 1-128 letters, digits or . _ - : /",
            crate::error::printable(id, 40)
        )))
    }
}

/// A small least-recently-used cache of parsed scores by id, each with the record it was
/// parsed from (its source checksum tells a replaced score, which is never served stale).
pub struct ParsedCache {
    capacity: Mutex<usize>,
    /// Estimated bytes the entries may take together.
    max_bytes: u64,
    entries: Mutex<Vec<CacheEntry>>,
}

/// The record a score was parsed from, the parsed score and its estimated size in memory.
type CacheEntry = (ScoreMeta, Arc<Stream>, u64);

impl ParsedCache {
    pub fn new(capacity: usize, max_bytes: u64) -> Self {
        Self {
            capacity: Mutex::new(capacity),
            max_bytes,
            entries: Mutex::new(Vec::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<CacheEntry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The parse of `id`, with the record it was parsed from.
    pub fn get(&self, id: &str) -> Option<(ScoreMeta, Arc<Stream>)> {
        let mut entries = self.lock();
        let idx = entries
            .iter()
            .position(|(meta, _, _)| meta.score_id == id)?;
        let entry = entries.remove(idx);
        let found = (entry.0.clone(), entry.1.clone());
        entries.push(entry);
        Some(found)
    }

    /// Keeps a parsed score of an estimated `bytes` in memory (see
    /// `resilience::parse_cost::of_stored`); the least recently used go first when the
    /// count or the bytes pass their bounds, and a score larger than all the room is not
    /// kept (a 50 MB score's parse would hold a worker's memory long after its import).
    pub fn put(&self, meta: ScoreMeta, score: Arc<Stream>, bytes: u64) {
        let capacity = *self.capacity.lock().unwrap_or_else(|p| p.into_inner());
        let mut entries = self.lock();
        entries.retain(|(held, _, _)| held.score_id != meta.score_id);
        if capacity == 0 || bytes > self.max_bytes {
            return;
        }
        entries.push((meta, score, bytes));
        let total = |e: &Vec<CacheEntry>| e.iter().map(|x| x.2).sum::<u64>();
        while entries.len() > capacity || total(&entries) > self.max_bytes {
            entries.remove(0);
        }
    }

    /// Drops everything cached for one id (after delete or replace).
    pub fn forget(&self, id: &str) {
        self.lock().retain(|(held, _, _)| held.score_id != id);
    }

    /// Shrinks the cache (the memory guard calls this under pressure).
    pub fn set_capacity(&self, capacity: usize) {
        *self.capacity.lock().unwrap_or_else(|p| p.into_inner()) = capacity;
        let mut entries = self.lock();
        while entries.len() > capacity {
            entries.remove(0);
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

type Handler = Box<dyn Fn(&ToolContext, Value) -> ToolResult<Value> + Send + Sync>;

/// One tool: its name, description, schemas and handler.
pub struct ToolDef {
    pub name: &'static str,
    pub description: &'static str,
    /// Heavy tools parse or analyse whole scores; the memory guard refuses them first.
    pub heavy: bool,
    pub input_schema: Value,
    pub output_schema: Value,
    handler: Handler,
}

fn schema_of<T: JsonSchema>() -> Value {
    let schema = schemars::schema_for!(T);
    let mut value = serde_json::to_value(schema).unwrap_or(Value::Null);
    drop_rust_only_formats(&mut value);
    split_type_unions(&mut value);
    value
}

/// Keywords that describe a value rather than constrain it: they stay beside an `anyOf`.
const ANNOTATIONS: [&str; 8] = [
    "description",
    "title",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$comment",
];

/// schemars writes an `Option<T>` as `"type": ["string", "null"]`: legal JSON Schema, but
/// clients that read `type` as one string (Gemini's OpenAPI subset among them; MCP Inspector
/// --strict warns of each) reject the tool or drop the constraint. The same schema as
/// `anyOf` branches of one type each: the constraints go with their type's branch, the
/// annotations stay outside, and a `null` in an `enum` becomes the `null` branch.
fn split_type_unions(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.values_mut().for_each(split_type_unions);
            let Some(Value::Array(types)) = map.get("type").cloned() else {
                return;
            };
            map.remove("type");
            let constraints: Vec<(String, Value)> = map
                .iter()
                .filter(|(k, _)| !ANNOTATIONS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            for (k, _) in &constraints {
                map.remove(k);
            }
            let branches: Vec<Value> = types
                .iter()
                .map(|t| {
                    let mut branch = serde_json::Map::new();
                    branch.insert("type".into(), t.clone());
                    if t != "null" {
                        for (k, v) in &constraints {
                            let v = match (k.as_str(), v) {
                                ("enum", Value::Array(items)) => Value::Array(
                                    items.iter().filter(|i| !i.is_null()).cloned().collect(),
                                ),
                                _ => v.clone(),
                            };
                            branch.insert(k.clone(), v);
                        }
                    }
                    Value::Object(branch)
                })
                .collect();
            map.insert("anyOf".into(), Value::Array(branches));
        }
        Value::Array(items) => items.iter_mut().for_each(split_type_unions),
        _ => {}
    }
}

/// schemars marks unsigned Rust integers with formats such as `uint64` that no JSON Schema
/// vocabulary defines; validating clients (the MCP Inspector's ajv among them) warn about
/// each. The `minimum: 0` beside them already says what they mean.
fn drop_rust_only_formats(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let rust_only = map
                .get("format")
                .and_then(Value::as_str)
                .is_some_and(|f| f.starts_with("uint"));
            if rust_only {
                map.remove("format");
            }
            map.values_mut().for_each(drop_rust_only_formats);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_rust_only_formats),
        _ => {}
    }
}

/// Builds a [`ToolDef`] from a typed function.
pub fn tool<A, O>(
    name: &'static str,
    description: &'static str,
    heavy: bool,
    f: fn(&ToolContext, A) -> ToolResult<O>,
) -> ToolDef
where
    A: DeserializeOwned + JsonSchema + 'static,
    O: Serialize + JsonSchema + 'static,
{
    let handler: Handler = Box::new(move |ctx, args| {
        let args = if args.is_null() {
            Value::Object(Default::default())
        } else {
            args
        };
        if !args.is_object() {
            return Err(ToolError::invalid(format!(
                "arguments for {name} must be a JSON object, got {}",
                json_kind(&args)
            )));
        }
        let typed: A = serde_path_to_error::deserialize(args).map_err(|e| {
            // Both quote what the client sent (an unknown field's name, a bad value).
            let path = crate::error::printable(&e.path().to_string(), 100);
            let inner = crate::error::printable(&e.into_inner().to_string(), 300);
            if path == "." || path.is_empty() {
                ToolError::invalid(format!("invalid arguments for {name}: {inner}"))
            } else {
                ToolError::invalid(format!("invalid argument `{path}` for {name}: {inner}"))
            }
        })?;
        let output = catch_engine(&format!("running {name}"), || f(ctx, typed))??;
        serde_json::to_value(output)
            .map_err(|e| ToolError::internal(format!("{name}: result not serialisable: {e}")))
    });
    ToolDef {
        name,
        description,
        heavy,
        input_schema: schema_of::<A>(),
        output_schema: schema_of::<O>(),
        handler,
    }
}

/// "a string", "an object": what kind of JSON value `v` is, for error messages.
pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Every tool, by name.
pub struct Registry {
    tools: Vec<ToolDef>,
    index: HashMap<&'static str, usize>,
}

impl Registry {
    /// The one registry of this process, built on first use (its schemas cost a few
    /// milliseconds to build; every caller shares them).
    pub fn shared() -> &'static Registry {
        static SHARED: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
        SHARED.get_or_init(Registry::new)
    }

    pub fn new() -> Self {
        let mut tools = Vec::new();
        tools.extend(scores::tools());
        tools.push(key::tool_def());
        tools.push(chords::tool_def());
        tools.push(harmony::tool_def());
        tools.push(harmonize::tool_def());
        tools.push(voice_leading::tool_def());
        tools.push(counterpoint::tool_def());
        tools.push(style::tool_def());
        tools.push(patterns::tool_def());
        tools.push(health::tool_def());
        let index = tools.iter().enumerate().map(|(i, t)| (t.name, i)).collect();
        Self { tools, index }
    }

    pub fn get(&self, name: &str) -> Option<&ToolDef> {
        self.index.get(name).map(|&i| &self.tools[i])
    }

    pub fn tools(&self) -> &[ToolDef] {
        &self.tools
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.tools.iter().map(|t| t.name).collect()
    }

    /// Calls a tool by name with JSON arguments.
    pub fn call(&self, ctx: &ToolContext, name: &str, args: Value) -> ToolResult<Value> {
        let tool = self.get(name).ok_or_else(|| {
            ToolError::not_found(format!(
                "unknown tool '{name}'; the tools are: {}",
                self.names().join(", ")
            ))
        })?;
        progress::report(0.0, || format!("{name}: started"));
        (tool.handler)(ctx, args)
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod schema_tests {
    use super::*;
    use serde_json::json;

    fn formats(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(f) = map.get("format").and_then(Value::as_str) {
                    found.push(f.to_string());
                }
                map.values().for_each(|v| formats(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| formats(v, found)),
            _ => {}
        }
    }

    fn type_unions(value: &Value, path: &str, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if map.get("type").is_some_and(Value::is_array) {
                    found.push(path.to_string());
                }
                for (k, v) in map {
                    type_unions(v, &format!("{path}/{k}"), found);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    type_unions(v, &format!("{path}/{i}"), found);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn no_schema_spells_a_type_as_an_array() {
        let registry = Registry::new();
        let mut found = Vec::new();
        for def in registry.tools() {
            type_unions(&def.input_schema, def.name, &mut found);
            type_unions(&def.output_schema, def.name, &mut found);
        }
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn a_nullable_type_becomes_branches_with_its_constraints() {
        let mut schema = json!({
            "description": "how many",
            "type": ["integer", "null"],
            "minimum": 1,
            "enum": [1, 2, null],
        });
        split_type_unions(&mut schema);
        assert_eq!(
            schema,
            json!({
                "description": "how many",
                "anyOf": [
                    {"type": "integer", "minimum": 1, "enum": [1, 2]},
                    {"type": "null"},
                ],
            })
        );
    }

    #[test]
    fn schemas_use_only_formats_clients_know() {
        let registry = Registry::new();
        let mut found = Vec::new();
        for def in registry.tools() {
            formats(&def.input_schema, &mut found);
            formats(&def.output_schema, &mut found);
        }
        assert!(!found.is_empty(), "int64 and the like stay");
        assert!(found.iter().all(|f| !f.starts_with("uint")), "{found:?}");
    }

    /// Keywords that constrain a value; a subschema with none of them accepts anything.
    const VALIDATION: [&str; 10] = [
        "type",
        "$ref",
        "anyOf",
        "oneOf",
        "allOf",
        "enum",
        "const",
        "items",
        "properties",
        "not",
    ];

    /// Paths of subschemas that accept anything (`true`, `{}`, or only annotations such as a
    /// description), which strict validators (MCP Inspector --strict) reject or warn of:
    /// every property, item and definition must say what it holds.
    fn open_subschemas(value: &Value, path: &str, found: &mut Vec<String>) {
        let Value::Object(map) = value else {
            return;
        };
        for key in ["properties", "$defs"] {
            for (name, sub) in map
                .get(key)
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let here = format!("{path}.{name}");
                match sub {
                    Value::Bool(true) => found.push(here),
                    Value::Object(m) if !VALIDATION.iter().any(|k| m.contains_key(*k)) => {
                        found.push(here)
                    }
                    _ => open_subschemas(sub, &here, found),
                }
            }
        }
        if let Some(items) = map.get("items") {
            if items == &Value::Bool(true) {
                found.push(format!("{path}[]"));
            }
            open_subschemas(items, &format!("{path}[]"), found);
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            for (n, sub) in map
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                open_subschemas(sub, &format!("{path}.{key}{n}"), found);
            }
        }
    }

    #[test]
    fn no_schema_accepts_anything_where_a_shape_is_expected() {
        let mut found = Vec::new();
        for def in Registry::new().tools() {
            open_subschemas(&def.input_schema, &format!("{}.in", def.name), &mut found);
            open_subschemas(&def.output_schema, &format!("{}.out", def.name), &mut found);
        }
        assert!(found.is_empty(), "open subschemas: {found:?}");
    }

    #[test]
    fn a_field_left_out_when_false_is_not_required() {
        // list_scores writes `corrupted` only when true; a schema requiring it made every
        // listing with a score invalid against its own output schema.
        let registry = Registry::new();
        let list = registry.get("list_scores").expect("list_scores");
        let required = &list.output_schema["$defs"]["ListedScore"]["required"];
        let required: Vec<&str> = required
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        assert!(required.contains(&"score_id"), "{required:?}");
        assert!(!required.contains(&"corrupted"), "{required:?}");
    }
}
