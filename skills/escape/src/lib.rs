//! `escape` (hostile): tries to break out of the filesystem directory the
//! host preopens for it: `..` paths, absolute paths, symlinks the host test
//! planted (`abs-link` to an absolute directory outside the root, `rel-link`
//! to `../..`), hard links, renames and mkdir outside the root. Its input is
//! ignored.
//!
//! It returns `{"attempts":[{"name","ok","detail"}, ...]}` in a fixed order,
//! where `ok` means the operation succeeded and `detail` is the I/O error
//! text, or what was read (truncated to 200 characters).
//! Expected host outcome: nothing outside the root is read, listed or
//! created. The controls `inside-write` and `inside-read` succeed; `..`,
//! symlink, hard-link, rename and mkdir attempts fail. Note that wasi-libc
//! resolves an absolute path against a preopen, so `/x` means `<root>/x`:
//! `abs-write-root` may well succeed by creating `wasmclaw-escape-root`
//! inside the root, and `/etc/passwd` is looked up as `<root>/etc/passwd`.
use serde::Serialize;
use std::fs;
use wasmclaw_sdk::{Error, Skill, export_skill};

const DETAIL_MAX: usize = 200;

#[derive(Serialize)]
struct Attempt {
    name: &'static str,
    ok: bool,
    detail: String,
}

#[derive(Serialize)]
struct Output {
    attempts: Vec<Attempt>,
}

/// At most `DETAIL_MAX` characters of `s`.
fn truncate(s: &str) -> String {
    s.chars().take(DETAIL_MAX).collect()
}

/// Records an attempt whose success carries text to show.
fn attempt(name: &'static str, result: std::io::Result<String>) -> Attempt {
    match result {
        Ok(text) => Attempt { name, ok: true, detail: truncate(&text) },
        Err(e) => Attempt { name, ok: false, detail: truncate(&e.to_string()) },
    }
}

/// Records an attempt whose success carries nothing.
fn unit(name: &'static str, result: std::io::Result<()>) -> Attempt {
    attempt(name, result.map(|()| String::new()))
}

/// Lists a directory: the entry names, comma-separated.
fn list(path: &str) -> std::io::Result<String> {
    let mut names = Vec::new();
    for entry in fs::read_dir(path)? {
        names.push(entry?.file_name().to_string_lossy().into_owned());
    }
    Ok(names.join(","))
}

struct Escape;

impl Skill for Escape {
    type Input = serde_json::Value;
    type Output = Output;
    const NAME: &'static str = "escape";
    const DESCRIPTION: &'static str = "Hostile: tries to read and write outside its filesystem root.";

    fn input_schema() -> serde_json::Value {
        serde_json::json!({})
    }

    fn run(_input: serde_json::Value) -> Result<Output, Error> {
        let attempts = vec![
            unit("inside-write", fs::write("inside.txt", "ok")),
            attempt("inside-read", fs::read_to_string("inside.txt")),
            attempt("parent-list", list("..")),
            unit("parent-write", fs::write("../wasmclaw-escape-parent", "x")),
            unit("up-write", fs::write("../../../../wasmclaw-escape-up", "x")),
            attempt("abs-read-passwd", fs::read_to_string("/etc/passwd")),
            attempt("rel-read-passwd", fs::read_to_string("../../../../../../etc/passwd")),
            unit("abs-write-tmp", fs::write("/tmp/wasmclaw-escape-tmp", "x")),
            unit("abs-write-root", fs::write("/wasmclaw-escape-root", "x")),
            attempt("abs-link-read", fs::read_to_string("abs-link/secret.txt")),
            unit("abs-link-write", fs::write("abs-link/wasmclaw-escape-abs-link", "x")),
            attempt("rel-link-list", list("rel-link")),
            unit("rel-link-write", fs::write("rel-link/wasmclaw-escape-rel-link", "x")),
            unit("hardlink-passwd", fs::hard_link("/etc/passwd", "pw-hardlink")),
            unit("hardlink-parent", fs::hard_link("../wasmclaw-escape-parent", "parent-hardlink")),
            unit("rename-out", fs::rename("inside.txt", "../wasmclaw-escape-renamed")),
            unit("mkdir-parent", fs::create_dir("../wasmclaw-escape-dir")),
        ];
        Ok(Output { attempts })
    }
}

export_skill!(Escape);
