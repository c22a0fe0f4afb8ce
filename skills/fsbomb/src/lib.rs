//! `fsbomb` (hostile): tries to fill the disk and to reach past its root
//! with the filesystem. `mode`:
//! - `huge`: appends 1 MiB chunks to `huge.bin` until a write fails or
//!   `bytes` are written;
//! - `many`: creates empty files `many/<i>` until one fails or `files`
//!   exist;
//! - `links`: hard links to and from paths outside the root (absolute,
//!   `..`), reads of absolute host paths, and a hard link of its own file
//!   (allowed, counted as a file). Symlinks are `escape`'s.
//! - `sparse`: one byte at offset 2^40 of `sparse.bin` (a 1 TiB file);
//! - `stride`: one byte every 4 KiB of `stride.bin` until a write fails or
//!   `bytes` of file length are reached (`bytes` counts the length);
//! - `truncate`: writes `bytes` at the end of a fresh file, truncates it to
//!   0, and again, `files` times: each round must find the room it freed,
//!   never more (`bytes` then counts what was written in all);
//! - `deep`: nests directories `d/d/d/…` until one fails or `files` exist.
//!
//! (Creating through a symlink is the host test
//! `disk_quota::tests::creating_through_a_link_counts_the_file_it_makes`:
//! std has no stable symlink call on wasm32-wasip2.)
//!
//! Expected host outcome: `huge` and `many` stop exactly at the tenant's
//! disk quota (`[files_quota]`), never past it: a new file gets `EDQUOT`, a
//! stream write past the quota `EIO` (libc's report of any failed stream
//! write); every outward link fails; other tenants can still write.
//!
//! `{"mode": M, "bytes"?: N, "files"?: N}` →
//! `{"bytes": N, "files": N, "error": E, "attempts": [{"name","ok","error"}]}`
use serde::{Deserialize, Serialize};
use std::io::Write;
use wasmclaw_sdk::{Error, Skill, export_skill};

#[derive(Deserialize)]
struct Input {
    mode: String,
    #[serde(default = "default_bytes")]
    bytes: u64,
    #[serde(default = "default_files")]
    files: u64,
}

fn default_bytes() -> u64 {
    1 << 30
}

fn default_files() -> u64 {
    1_000_000
}

#[derive(Serialize, Default)]
struct Attempt {
    name: String,
    ok: bool,
    error: String,
}

#[derive(Serialize, Default)]
struct Output {
    bytes: u64,
    files: u64,
    error: String,
    attempts: Vec<Attempt>,
}

fn huge(limit: u64, out: &mut Output) {
    let chunk = vec![b'x'; 1 << 20];
    let mut f = match std::fs::OpenOptions::new().create(true).append(true).open("huge.bin") {
        Ok(f) => f,
        Err(e) => return out.error = e.to_string(),
    };
    while out.bytes < limit {
        match f.write_all(&chunk).and_then(|_| f.flush()) {
            Ok(()) => out.bytes += chunk.len() as u64,
            Err(e) => return out.error = e.to_string(),
        }
    }
}

fn many(limit: u64, out: &mut Output) {
    if let Err(e) = std::fs::create_dir_all("many") {
        return out.error = e.to_string();
    }
    while out.files < limit {
        match std::fs::File::create(format!("many/{}", out.files)) {
            Ok(_) => out.files += 1,
            Err(e) => return out.error = e.to_string(),
        }
    }
}

fn links(out: &mut Output) {
    let _ = std::fs::write("mine.txt", "mine");
    let mut attempt = |name: &str, r: std::io::Result<()>| {
        out.attempts.push(Attempt {
            name: name.into(),
            ok: r.is_ok(),
            error: r.err().map(|e| e.to_string()).unwrap_or_default(),
        })
    };
    attempt("hard-own", std::fs::hard_link("mine.txt", "mine-link.txt"));
    attempt("hard-abs", std::fs::hard_link("/etc/passwd", "passwd-link"));
    attempt("hard-up", std::fs::hard_link("../../../../etc/passwd", "up-link"));
    attempt("hard-out", std::fs::hard_link("mine.txt", "../escaped-link"));
    attempt("read-abs", std::fs::read("/etc/passwd").map(drop));
    attempt("read-proc", std::fs::read("/proc/self/environ").map(drop));
}

fn sparse(out: &mut Output) {
    use std::io::{Seek, SeekFrom};
    let r = std::fs::File::create("sparse.bin").and_then(|mut f| {
        f.seek(SeekFrom::Start(1 << 40)).and_then(|_| f.write_all(b"!")).and_then(|_| f.flush())
    });
    match r {
        Ok(()) => out.bytes = 1,
        Err(e) => out.error = e.to_string(),
    }
}

fn stride(limit: u64, out: &mut Output) {
    use std::io::{Seek, SeekFrom};
    let mut f = match std::fs::File::create("stride.bin") {
        Ok(f) => f,
        Err(e) => return out.error = e.to_string(),
    };
    while out.bytes < limit {
        let r = f.seek(SeekFrom::Start(out.bytes)).and_then(|_| f.write_all(b"s")).and_then(|_| f.flush());
        match r {
            Ok(()) => out.bytes += 4096,
            Err(e) => return out.error = e.to_string(),
        }
    }
}

fn truncate(bytes: u64, rounds: u64, out: &mut Output) {
    let chunk = vec![b't'; bytes as usize];
    for _ in 0..rounds {
        let r = std::fs::File::create("trunc.bin").and_then(|mut f| {
            f.write_all(&chunk)?;
            f.flush()?;
            f.set_len(0)
        });
        match r {
            Ok(()) => out.bytes += bytes,
            Err(e) => return out.error = e.to_string(),
        }
    }
}

fn deep(limit: u64, out: &mut Output) {
    let mut path = String::from("d");
    while out.files < limit {
        match std::fs::create_dir(&path) {
            Ok(()) => out.files += 1,
            Err(e) => return out.error = e.to_string(),
        }
        path.push_str("/d");
    }
}

struct FsBomb;

impl Skill for FsBomb {
    type Input = Input;
    type Output = Output;
    const NAME: &'static str = "fsbomb";
    const DESCRIPTION: &'static str = "Hostile: fills the disk and links outside its root.";

    fn run(input: Input) -> Result<Output, Error> {
        let mut out = Output::default();
        match input.mode.as_str() {
            "huge" => huge(input.bytes, &mut out),
            "many" => many(input.files, &mut out),
            "links" => links(&mut out),
            "sparse" => sparse(&mut out),
            "stride" => stride(input.bytes, &mut out),
            "truncate" => truncate(input.bytes, input.files, &mut out),
            "deep" => deep(input.files, &mut out),
            other => return Err(Error::invalid(format!("unknown mode {other:?}"))),
        }
        Ok(out)
    }
}

export_skill!(FsBomb);
