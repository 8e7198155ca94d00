//! `user`, as far as hcal needs it: an address resolved to its object id.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::redact::Hidden;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Object id (GUID).
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("mail", &Hidden(&self.mail))
            .field("user_principal_name", &Hidden(&self.user_principal_name))
            .field("display_name", &Hidden(&self.display_name))
            .finish()
    }
}
