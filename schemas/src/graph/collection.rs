//! A page of a Graph collection: `{value, @odata.nextLink, @odata.deltaLink}`.
//! Follow `next_link` as the whole URL, never rebuild it.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CollectionPage<T> {
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default, skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink", default, skip_serializing_if = "Option::is_none")]
    pub delta_link: Option<String>,
}

impl<T> Default for CollectionPage<T> {
    fn default() -> Self {
        CollectionPage {
            value: Vec::new(),
            next_link: None,
            delta_link: None,
        }
    }
}
