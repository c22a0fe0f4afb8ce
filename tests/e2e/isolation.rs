//! Tenant A tries to reach tenant B through the ordinary skills and fails.

use crate::{bind, call, call_json, load};
use serde_json::json;
use wasmclaw::bindings::WitError;
use wasmclaw::{Call, Error, UserId};
use wasmclaw_tests::{runtime, tenant};

#[tokio::test]
async fn notes_of_one_tenant_are_invisible_to_another() {
    let (_d, rt) = runtime();
    let notes = load(&rt, "notes").await;
    assert_eq!(
        call_json(&rt, &notes, "tenant-a", r#"{"op":"add","text":"alpha plan"}"#).await,
        json!({"id":"00000001"})
    );
    assert_eq!(
        call_json(&rt, &notes, "tenant-b", r#"{"op":"add","text":"beta plan"}"#).await,
        json!({"id":"00000001"})
    );

    let a = call_json(&rt, &notes, "tenant-a", r#"{"op":"list"}"#).await;
    assert_eq!(a, json!({"notes":[{"id":"00000001","text":"alpha plan"}]}));
    let b = call_json(&rt, &notes, "tenant-b", r#"{"op":"list"}"#).await;
    assert_eq!(b, json!({"notes":[{"id":"00000001","text":"beta plan"}]}));

    assert_eq!(
        call_json(&rt, &notes, "tenant-a", r#"{"op":"search","query":"beta"}"#).await,
        json!({"notes":[]})
    );
    assert_eq!(
        call_json(&rt, &notes, "tenant-a", r#"{"op":"search","query":"PLAN"}"#).await,
        json!({"notes":[{"id":"00000001","text":"alpha plan"}]})
    );
}

#[tokio::test]
async fn files_of_one_tenant_are_invisible_to_another() {
    let (_d, rt) = runtime();
    let notes = load(&rt, "notes").await;
    call_json(&rt, &notes, "tenant-a", r#"{"op":"add","text":"alpha"}"#).await;
    let out = call_json(&rt, &notes, "tenant-a", r#"{"op":"export"}"#).await;
    assert_eq!(out, json!({"path":"notes.json","count":1}));

    // The file is in A's directory, and only there.
    let a_file = rt.tenant_files_dir(&tenant("tenant-a")).join("notes.json");
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&a_file).unwrap()).unwrap();
    assert_eq!(written, json!([{"id":"00000001","text":"alpha"}]));
    let back = call_json(&rt, &notes, "tenant-a", r#"{"op":"read-export"}"#).await;
    assert_eq!(back, json!({"notes":[{"id":"00000001","text":"alpha"}]}));

    let e = call(&rt, &notes, "tenant-b", r#"{"op":"read-export"}"#).await.unwrap_err();
    assert!(matches!(e, Error::Skill(WitError::NotFound(_))), "{e}");
    assert!(!rt.tenant_files_dir(&tenant("tenant-b")).join("notes.json").exists());
}

#[tokio::test]
async fn users_within_a_tenant_have_their_own_memory() {
    let (_d, rt) = runtime();
    let notes = load(&rt, "notes").await;
    let as_user = |u: &str| Call { user: Some(UserId::parse(u).unwrap()), ..Call::default() };
    let notes_acme = bind(&rt, &notes, "acme");
    rt.invoke(&notes_acme, &as_user("alice"), r#"{"op":"add","text":"alice's"}"#).await.unwrap();
    let bob = rt.invoke(&notes_acme, &as_user("bob"), r#"{"op":"list"}"#).await.unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&bob.output).unwrap(), json!({"notes":[]}));
    let alice = rt.invoke(&notes_acme, &as_user("alice"), r#"{"op":"list"}"#).await.unwrap();
    assert!(alice.output.contains("alice's"));
    // The tenant-wide scope (no user) is separate from every user's.
    assert_eq!(call_json(&rt, &notes, "acme", r#"{"op":"list"}"#).await, json!({"notes":[]}));
}
