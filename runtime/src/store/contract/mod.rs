//! The backend contract: the store's tests, written once against [`Db`]
//! and run on every backend.
//!
//! [`contract!`] takes test functions of the form `fn name(db: &Db)` and
//! makes two tests of each: `…::redb::name` on a fresh redb file and
//! `…::postgres::name` on a fresh PostgreSQL database
//! ([`crate::store::testing::postgres`]: skipped without one, a failure
//! under `CI=true`). A few tests that reopen a redb file stay plain
//! `#[test]`s of redb.

macro_rules! contract {
    ($( $(#[$m:meta])* fn $name:ident($db:ident: &Db) $body:block )*) => {
        $( $(#[$m])* fn $name($db: &Db) $body )*

        mod redb {
            $(
                #[test]
                fn $name() {
                    let (_guard, db) = crate::store::testing::db();
                    super::$name(&db)
                }
            )*
        }

        mod postgres {
            $(
                #[test]
                fn $name() {
                    if let Some((_guard, db)) = crate::store::testing::postgres() {
                        super::$name(&db)
                    }
                }
            )*
        }
    };
}
use contract;

mod agents;
mod cron;
mod dump;
mod memory;
mod outbox;
mod policy;
mod replays;
mod secrets;
mod skills;
mod tenants;
mod tokens;
mod trust;
mod usage;
mod usage_attacks;
