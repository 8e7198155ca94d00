//! Change-notification subscriptions: create, renew, reauthorize, delete, list.

use reqwest::Method;
use serde_json::json;

use hcal_schemas::Timestamp;
use hcal_schemas::graph::{Subscription, SubscriptionRequest, format_offset};

use super::client::{GraphClient, Request, Retry};
use super::error::GraphError;
use super::url::segment;

impl GraphClient {
    /// `POST /subscriptions` (201). Graph validates the notification (and lifecycle) URL
    /// with a handshake first; a failed one is `ValidationFailed`. Not idempotent (no
    /// idempotency key exists for subscriptions): retried only on 429 or when no
    /// connection was made; after another failure, reconcile with
    /// [`GraphClient::list_subscriptions`] before creating again.
    pub async fn create_subscription(
        &self,
        tenant: &str,
        request: &SubscriptionRequest,
    ) -> Result<Subscription, GraphError> {
        const ROUTE: &str = "/subscriptions";
        let mut req = Request::new(Method::POST, self.url("/subscriptions"), ROUTE, tenant).json(request)?;
        req.retry = Retry::Unprocessed;
        req.subscription_create = true;
        self.execute(&req).await?.json(ROUTE)
    }

    /// `PATCH /subscriptions/{id}` with a new `expirationDateTime` (200); also
    /// reauthorizes. A subscription Graph already dropped is `ItemNotFound`.
    pub async fn renew_subscription(
        &self,
        tenant: &str,
        id: &str,
        expires: Timestamp,
    ) -> Result<Subscription, GraphError> {
        const ROUTE: &str = "/subscriptions/{id}";
        let url = self.url(&format!("/subscriptions/{}", segment(id)));
        let req = Request::new(Method::PATCH, url, ROUTE, tenant)
            .json(&json!({"expirationDateTime": format_offset(expires)}))?;
        self.execute(&req).await?.json(ROUTE)
    }

    /// `POST /subscriptions/{id}/reauthorize` (204), after `reauthorizationRequired`.
    pub async fn reauthorize_subscription(&self, tenant: &str, id: &str) -> Result<(), GraphError> {
        const ROUTE: &str = "/subscriptions/{id}/reauthorize";
        let url = self.url(&format!("/subscriptions/{}/reauthorize", segment(id)));
        // Repeating it is harmless: it only resumes delivery.
        let req = Request::new(Method::POST, url, ROUTE, tenant);
        self.execute(&req).await.map(|_| ())
    }

    /// `DELETE /subscriptions/{id}` (204). Already gone (404) counts as done.
    pub async fn delete_subscription(&self, tenant: &str, id: &str) -> Result<(), GraphError> {
        const ROUTE: &str = "/subscriptions/{id}";
        let url = self.url(&format!("/subscriptions/{}", segment(id)));
        let req = Request::new(Method::DELETE, url, ROUTE, tenant);
        match self.execute(&req).await {
            Ok(_) | Err(GraphError::ItemNotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `GET /subscriptions`: this app's subscriptions in the tenant, every page.
    pub async fn list_subscriptions(&self, tenant: &str) -> Result<Vec<Subscription>, GraphError> {
        const ROUTE: &str = "/subscriptions";
        let req = Request::new(Method::GET, self.url("/subscriptions"), ROUTE, tenant);
        self.all_pages(req).await
    }
}
