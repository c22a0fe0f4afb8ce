//! The contract of skills: the redb and PostgreSQL backends alike.

use crate::records::InstalledSkill;
use crate::store::testing::t;
use crate::store::*;

fn skill(name: &str) -> InstalledSkill {
    InstalledSkill {
        name: name.into(),
        version: "1.0.0".into(),
        description: String::new(),
        digest: "00".into(),
        guest: false,
        installed: 1,
        manifest: None,
        manifest_digest: String::new(),
        publisher: None,
        imports: vec![],
        exports: vec![],
        capabilities: vec![],
    }
}

super::contract! {
    fn skills_are_per_tenant(db: &Db) {
        assert!(db.skill_put(&t("a"), &skill("echo"), b"wasm-a", None).unwrap());
        assert!(!db.skill_put(&t("a"), &skill("echo"), b"again", None).unwrap(), "one is installed");
        assert!(!db.skill_put(&t("a"), &skill("echo"), b"again", Some("11")).unwrap(), "not that one");
        assert_eq!(db.skill(&t("a"), "echo").unwrap().unwrap().1, b"wasm-a");
        assert!(db.skill_put(&t("a"), &skill("echo"), b"wasm-a2", Some("00")).unwrap(), "replaced");
        assert_eq!(db.skill(&t("a"), "echo").unwrap().unwrap().1, b"wasm-a2");
        assert!(db.skill_put(&t("ab"), &skill("notes"), b"wasm-b", None).unwrap());
        assert_eq!(db.skills(&t("a")).unwrap().len(), 1);
        assert!(db.skill(&t("a"), "notes").unwrap().is_none(), "tenant a cannot see ab's skill");
        assert!(!db.skill_remove(&t("a"), "notes").unwrap());
        assert!(db.skill_remove(&t("ab"), "notes").unwrap());
        assert!(db.skills(&t("ab")).unwrap().is_empty());
    }
}
