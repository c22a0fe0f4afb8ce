//! Ordinary calls: round trips, fresh instances, loading and bad input.

use crate::{call, call_json, load};
use serde_json::json;
use wasmclaw::Error;
use wasmclaw::cache::CacheOutcome;
use wasmclaw_tests::{runtime, runtime_with, skill_path};

#[tokio::test]
async fn echo_round_trip() {
    let (_d, rt) = runtime();
    let echo = load(&rt, "echo").await;
    assert_eq!(echo.info.name, "echo");
    let input = json!({"a": [1, 2.5, "three", null], "b": {"nested": true}, "u": "ünï"});
    let out = call_json(&rt, &echo, "acme", &input.to_string()).await;
    assert_eq!(out, input);
}

#[tokio::test]
async fn counter_answers_one_a_thousand_times() {
    let (_d, rt) = runtime();
    let counter = load(&rt, "counter").await;
    for i in 0..1000 {
        let out = call_json(&rt, &counter, "acme", "{}").await;
        assert_eq!(out, json!({"count": 1}), "call {i} saw state of an earlier call");
    }
}

#[tokio::test]
async fn second_load_hits_the_compiled_cache() {
    let (_d, rt) = runtime();
    let first = load(&rt, "echo").await;
    assert_eq!(first.cache, CacheOutcome::Miss);
    let second = load(&rt, "echo").await;
    assert_eq!(second.cache, CacheOutcome::Hit);
    assert_eq!(first.digest, second.digest);
    let out = call_json(&rt, &second, "acme", "[1]").await;
    assert_eq!(out, json!([1]));
}

#[tokio::test]
async fn imports_are_the_real_permissions() {
    let (_d, rt) = runtime();
    let echo = load(&rt, "echo").await;
    let notes = load(&rt, "notes").await;
    let has = |s: &wasmclaw::Skill, i: &str| s.imports.iter().any(|x| x.starts_with(i));
    assert!(!has(&echo, "wasmclaw:skill/memory"), "{:?}", echo.imports);
    assert!(has(&notes, "wasmclaw:skill/memory"), "{:?}", notes.imports);
    assert!(has(&notes, "wasmclaw:skill/log"), "{:?}", notes.imports);
    assert!(!notes.imports.iter().any(|i| i.starts_with("wasi:sockets")));
}

#[tokio::test]
async fn malformed_and_oversized_input_is_refused_before_the_guest() {
    let (_d, rt) = runtime_with(|c| c.defaults.max_input_bytes = 100);
    let echo = load(&rt, "echo").await;
    for bad in ["", "{", "{\"a\":}", "not json", "\u{0}"] {
        let e = call(&rt, &echo, "acme", bad).await.unwrap_err();
        assert!(matches!(e, Error::InvalidInput(_)), "{bad:?}: {e}");
    }
    let big = format!("\"{}\"", "x".repeat(200));
    let e = call(&rt, &echo, "acme", &big).await.unwrap_err();
    assert!(matches!(&e, Error::TooLarge(m) if m.contains("bytes")), "{e}");
}

#[tokio::test]
async fn a_skill_error_is_typed() {
    let (_d, rt) = runtime();
    let notes = load(&rt, "notes").await;
    let e = call(&rt, &notes, "acme", r#"{"op":"fly"}"#).await.unwrap_err();
    assert!(matches!(e, Error::Skill(wasmclaw::bindings::WitError::Invalid(_))), "{e}");
    assert_eq!(e.exit_code(), 5);
}

#[tokio::test]
async fn bad_skill_files_are_clear_errors() {
    let (dir, rt) = runtime();
    // Missing file.
    let e = rt.load_skill_file(&dir.path().join("missing.wasm")).await.unwrap_err();
    assert!(matches!(&e, Error::Io { context, .. } if context.contains("missing.wasm")), "{e}");
    // A core module, not a component.
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let e = rt.load_skill_file(&core).await.unwrap_err();
    assert!(matches!(&e, Error::InvalidSkill(m) if m.contains("core WebAssembly module")), "{e}");
    // Not WebAssembly at all.
    let text = dir.path().join("text.wasm");
    std::fs::write(&text, b"#!/bin/sh\necho hi\n").unwrap();
    let e = rt.load_skill_file(&text).await.unwrap_err();
    assert!(matches!(&e, Error::InvalidSkill(m) if m.contains("not a WebAssembly component")), "{e}");
    // A truncated component.
    let bytes = std::fs::read(skill_path("echo")).unwrap();
    let cut = dir.path().join("cut.wasm");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = rt.load_skill_file(&cut).await.unwrap_err();
    assert!(matches!(&e, Error::InvalidSkill(m) if m.contains("compile")), "{e}");
    // A component exporting another world.
    let e = rt.load_skill_file(&skill_path("wrong-world")).await.unwrap_err();
    assert!(matches!(&e, Error::InvalidSkill(m) if m.contains("wasmclaw:skill/handler")), "{e}");
    assert_eq!(e.exit_code(), 4);
}

#[tokio::test]
async fn usage_is_measured() {
    let (_d, rt) = runtime();
    let notes = load(&rt, "notes").await;
    let out = call(&rt, &notes, "acme", r#"{"op":"add","text":"hello"}"#).await.unwrap();
    assert!(out.usage.fuel > 0);
    assert!(out.usage.memory_peak_bytes > 0);
    assert_eq!(out.usage.log_lines, 1);
}

#[tokio::test]
async fn the_data_directory_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, rt) = runtime();
    let echo = load(&rt, "echo").await;
    call_json(&rt, &echo, "acme", "1").await;
    let data = dir.path().join("data");
    let mut checked = 0;
    let mut stack = vec![data.clone()];
    while let Some(p) = stack.pop() {
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{} is open to others: {mode:o}", p.display());
        checked += 1;
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
    // The database, key, audit log, cache and tenant directories were all seen.
    for f in ["wasmclaw.redb", "master.key", "audit.log", "cache", "tenants/acme/files"] {
        assert!(data.join(f).exists(), "{f}");
    }
    assert!(checked >= 8, "{checked}");
}
