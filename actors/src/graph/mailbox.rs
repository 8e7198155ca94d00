//! Mailbox settings (automatic replies, language) and user lookup.

use reqwest::Method;

use hcal_schemas::graph::{MailboxSettings, User};

use super::client::{GraphClient, PREFER_UTC, Request};
use super::error::GraphError;
use super::url::{query, segment};

impl GraphClient {
    /// `GET /users/{user}/mailboxSettings`. Graph sends no notifications for these: poll.
    pub async fn get_mailbox_settings(&self, tenant: &str, user: &str) -> Result<MailboxSettings, GraphError> {
        const ROUTE: &str = "/users/{user}/mailboxSettings";
        let url = self.url(&format!("/users/{}/mailboxSettings", segment(user)));
        let req = Request::new(Method::GET, url, ROUTE, tenant)
            .mailbox(user)
            .prefer(PREFER_UTC);
        self.execute(&req).await?.json(ROUTE)
    }

    /// `GET /users/{user}?$select=id,mail,userPrincipalName,displayName`: an address (or
    /// UPN) to its object id. A directory read (needs `User.Read.All`), not counted
    /// against the mailbox's limits. An unknown user is `ItemNotFound`
    /// (`Request_ResourceNotFound`).
    pub async fn get_user(&self, tenant: &str, user: &str) -> Result<User, GraphError> {
        const ROUTE: &str = "/users/{user}";
        let url = format!(
            "{}{}",
            self.url(&format!("/users/{}", segment(user))),
            query(&[("$select", "id,mail,userPrincipalName,displayName".into())])
        );
        let req = Request::new(Method::GET, url, ROUTE, tenant);
        self.execute(&req).await?.json(ROUTE)
    }
}
