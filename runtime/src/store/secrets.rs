//! (in progress)

use super::StoreError;
use redb::WriteTransaction;

pub(super) fn create_tables(_txn: &WriteTransaction) -> Result<(), StoreError> {
    Ok(())
}
