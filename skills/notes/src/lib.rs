//! `notes`: a small note-taking skill, the well-behaved reference that uses
//! every capability a skill may have: durable memory, the log, and the
//! filesystem directory the host preopens for the call.
//!
//! Operations (`op`):
//! - `add` `{text}` stores a note under `note:<id>`, where `<id>` is an
//!   8-digit zero-padded counter kept in `meta:next-id`; returns `{id}`.
//! - `list` returns `{notes:[{id,text}]}` in key order.
//! - `search` `{query}` returns the notes matching `query`, same shape.
//! - `export` writes every note to `notes.json`; returns `{path,count}`.
//! - `read-export` reads `notes.json` back; returns `{notes:[...]}`.
use serde::{Deserialize, Serialize};
use wasmclaw_sdk::memory::{self, Entry};
use wasmclaw_sdk::{Error, Skill, export_skill, log};

const NOTE_PREFIX: &str = "note:";
const NEXT_ID_KEY: &str = "meta:next-id";
const EXPORT_PATH: &str = "notes.json";

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
enum Input {
    Add { text: String },
    List,
    Search { query: String },
    Export,
    ReadExport,
}

#[derive(Serialize, Deserialize)]
struct Note {
    id: String,
    text: String,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Output {
    Added { id: String },
    Notes { notes: Vec<Note> },
    Exported { path: String, count: usize },
}

/// Turns memory entries into notes, keeping only `note:` keys.
fn notes_of(entries: Vec<Entry>) -> Vec<Note> {
    entries
        .into_iter()
        .filter_map(|e| e.key.strip_prefix(NOTE_PREFIX).map(|id| Note { id: id.to_string(), text: e.value }))
        .collect()
}

fn all_notes() -> Result<Vec<Note>, Error> {
    Ok(notes_of(memory::list(NOTE_PREFIX, 1000)?))
}

fn add(text: String) -> Result<Output, Error> {
    if text.is_empty() {
        return Err(Error::invalid("text must not be empty"));
    }
    let next: u64 = match memory::get(NEXT_ID_KEY)? {
        None => 1,
        Some(v) => v.trim().parse().map_err(|e| Error::failed(format!("{NEXT_ID_KEY} is corrupt: {e}")))?,
    };
    let id = format!("{next:08}");
    memory::set(&format!("{NOTE_PREFIX}{id}"), &text)?;
    memory::set(NEXT_ID_KEY, &(next + 1).to_string())?;
    log::info(&format!("added note {id}"));
    Ok(Output::Added { id })
}

struct Notes;

impl Skill for Notes {
    type Input = Input;
    type Output = Output;
    const NAME: &'static str = "notes";
    const DESCRIPTION: &'static str =
        "Adds, lists and searches short text notes, and exports them to a JSON file.";

    fn input_schema() -> serde_json::Value {
        serde_json::json!({
            "type": "object",
            "properties": {
                "op": { "enum": ["add", "list", "search", "export", "read-export"] },
                "text": { "type": "string", "description": "note text, for add" },
                "query": { "type": "string", "description": "words to find, for search" }
            },
            "required": ["op"]
        })
    }

    fn run(input: Input) -> Result<Output, Error> {
        match input {
            Input::Add { text } => add(text),
            Input::List => {
                let notes = all_notes()?;
                log::info(&format!("listed {} notes", notes.len()));
                Ok(Output::Notes { notes })
            }
            Input::Search { query } => {
                let notes = notes_of(memory::search(&query, 100)?);
                log::info(&format!("search found {} notes", notes.len()));
                Ok(Output::Notes { notes })
            }
            Input::Export => {
                let notes = all_notes()?;
                let text = serde_json::to_string(&notes).map_err(|e| Error::failed(e.to_string()))?;
                std::fs::write(EXPORT_PATH, text)
                    .map_err(|e| Error::failed(format!("writing {EXPORT_PATH}: {e}")))?;
                log::info(&format!("exported {} notes to {EXPORT_PATH}", notes.len()));
                Ok(Output::Exported { path: EXPORT_PATH.to_string(), count: notes.len() })
            }
            Input::ReadExport => {
                let text = std::fs::read_to_string(EXPORT_PATH).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        Error::not_found(format!("{EXPORT_PATH}: {e}"))
                    } else {
                        Error::failed(format!("reading {EXPORT_PATH}: {e}"))
                    }
                })?;
                let notes: Vec<Note> = serde_json::from_str(&text)
                    .map_err(|e| Error::failed(format!("{EXPORT_PATH} is corrupt: {e}")))?;
                log::info(&format!("read {} notes from {EXPORT_PATH}", notes.len()));
                Ok(Output::Notes { notes })
            }
        }
    }
}

export_skill!(Notes);
