//! Tokens, admin keys and ids.

use super::*;

fn hex(len: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[0-9a-f]{{{len}}}")).unwrap()
}

proptest! {
    #![proptest_config(config(256))]

    /// Any string, and strings close to the token form, never panic; what
    /// parses as a token is exactly the token rebuilt from its parts, and
    /// is never also an admin key.
    #[test]
    fn arbitrary_credentials_parse_only_as_what_they_are(
        s in prop_oneof![
            ".{0,80}",
            "wc[at]_[a-z0-9_-]{0,20}_[0-9a-fA-F_]{0,50}",
            (("[a-z0-9-]{0,66}"), hex(12), hex(32), ".{0,2}").prop_map(|(t, i, s, x)| format!("wct_{t}_{i}_{s}{x}")),
        ]
    ) {
        if let Some((t, id)) = parse_token(&s) {
            prop_assert_eq!(format!("wct_{t}_{id}_{}", &s[s.len() - 32..]), s.clone());
            prop_assert!(!is_admin_key(&s));
            prop_assert!(TenantId::parse(t.as_str()).is_ok());
        }
        if let Ok(t) = TenantId::parse(&s) {
            prop_assert_eq!(t.as_str(), s.as_str());
        }
        if let Ok(u) = UserId::parse(&s) {
            prop_assert_eq!(u.as_str(), s.as_str());
        }
        if let Ok(r) = s.parse::<Role>() {
            prop_assert_eq!(r.as_str(), s.as_str());
        }
    }

    /// A token of the documented form parses back to its tenant and id.
    #[test]
    fn well_formed_tokens_parse_to_their_tenant_and_id(
        t in "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?",
        id in hex(12),
        secret in hex(32),
    ) {
        let token = format!("wct_{t}_{id}_{secret}");
        let (tenant, got) = parse_token(&token).expect("parses");
        prop_assert_eq!(tenant.as_str(), t.as_str());
        prop_assert_eq!(got, id.as_str());
        prop_assert!(!is_admin_key(&token));
        let admin = format!("wca_{secret}");
        prop_assert!(is_admin_key(&admin));
    }
}

/// A minted token parses back to the id it was minted with and
/// authenticates as exactly that token; any one character changed does not
/// authenticate.
#[test]
fn minted_tokens_authenticate_as_themselves_and_nothing_close_does() {
    let (_dir, rt) = wasmclaw_tests::runtime();
    for t in ["acme", "globex"] {
        rt.create_tenant("test", &tenant(t)).unwrap();
    }
    let strategy = (
        prop::sample::select(vec!["acme", "globex"]),
        prop::sample::select(vec![Role::Admin, Role::Member, Role::Guest]),
        "[ -~]{0,64}",
        any::<prop::sample::Index>(),
        any::<char>(),
    );
    proptest::test_runner::TestRunner::new(config(24))
        .run(&strategy, |(t, role, name, at, c)| {
            let (info, token) = rt.mint_token("test", &tenant(t), role, &name).unwrap();
            let (parsed_tenant, id) = parse_token(&token).expect("a minted token parses");
            prop_assert_eq!(id, info.id.as_str());
            prop_assert_eq!(parsed_tenant.as_str(), t);
            match rt.authenticate(&token) {
                Ok(Principal::Token(got)) => {
                    prop_assert_eq!(&got.id, &info.id);
                    prop_assert_eq!(got.tenant.as_str(), t);
                    prop_assert_eq!(got.role, role);
                    prop_assert_eq!(&got.name, &name);
                }
                other => return Err(TestCaseError::fail(format!("{other:?}"))),
            }
            let mut chars: Vec<char> = token.chars().collect();
            let i = at.index(chars.len());
            if chars[i] != c {
                chars[i] = c;
                let changed: String = chars.into_iter().collect();
                prop_assert!(matches!(rt.authenticate(&changed), Err(Error::Unauthorized(_))), "{changed:?}");
            }
            Ok(())
        })
        .unwrap();
}
