//! Credentials as presented in `Authorization: Bearer …`: tenant tokens,
//! the admin key, and the ids and role names that come with them.
//!
//! Properties: no input panics; a string that parses as a token is exactly
//! `wct_<tenant>_<id>_<32 hex>` rebuilt from what was parsed; no string is
//! both a token and an admin key; ids that parse print back as given.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wasmclaw::auth::{is_admin_key, parse_token};
use wasmclaw::records::Role;
use wasmclaw::ids::{TenantId, UserId};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Some((tenant, id)) = parse_token(s) {
        let secret = &s[s.len() - 32..];
        assert_eq!(format!("wct_{tenant}_{id}_{secret}"), s);
        assert_eq!(id.len(), 12);
        assert!(id.bytes().chain(secret.bytes()).all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert!(!is_admin_key(s), "a token is also an admin key: {s}");
        assert_eq!(TenantId::parse(tenant.as_str()).as_ref(), Ok(&tenant));
    }
    if is_admin_key(s) {
        assert_eq!(s.len(), 36);
        assert!(s.starts_with("wca_"));
    }
    if let Ok(t) = TenantId::parse(s) {
        assert_eq!(t.as_str(), s);
        assert!(!t.as_str().contains(['/', '.', '\\', '\0']));
    }
    if let Ok(u) = UserId::parse(s) {
        assert_eq!(u.as_str(), s);
    }
    if let Ok(r) = s.parse::<Role>() {
        assert_eq!(r.as_str(), s);
    }
    let _ = wasmclaw::signing::PublicKey::parse(s);
});
