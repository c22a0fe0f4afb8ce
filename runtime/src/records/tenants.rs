//! The tenant record.

use crate::ids::TenantId;
use serde::ser::{Serialize, SerializeStruct, Serializer};

/// A tenant's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Its id.
    pub id: TenantId,
    /// When it was created, seconds since the Unix epoch.
    pub created: u64,
    /// Whether it is suspended.
    pub suspended: bool,
}

/// `{"id","created","status":"active"|"suspended"}`.
impl Serialize for Tenant {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Tenant", 3)?;
        st.serialize_field("id", self.id.as_str())?;
        st.serialize_field("created", &self.created)?;
        st.serialize_field("status", if self.suspended { "suspended" } else { "active" })?;
        st.end()
    }
}
