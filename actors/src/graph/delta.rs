//! `calendarView/delta`: a round follows `@odata.nextLink` to the page that
//! carries `@odata.deltaLink`; the caller keeps that link for the next round.

use reqwest::Method;

use hcal_schemas::Timestamp;
use hcal_schemas::graph::{CollectionPage, Event};

use super::client::{GraphClient, MAX_PAGES, PREFER_UTC_HTML, Request};
use super::error::GraphError;
use super::events::window;
use super::url::{query, segment};

/// One item of a delta round.
// Nearly every item is an upsert: boxing the event would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum DeltaItem {
    /// New or changed; may be partial (an id and the changed properties).
    Upserted(Event),
    /// `@removed`: deleted, or changed outside the window (Graph reports those as removed
    /// too). Filter by your own window.
    Removed { id: String },
}

/// A complete round: every item across its pages (in Graph's order; an id may repeat,
/// the later entry is the newer) and the link for the next round.
#[derive(Clone, Debug, PartialEq)]
pub struct DeltaRound {
    pub items: Vec<DeltaItem>,
    pub delta_link: String,
}

const ROUTE: &str = "/users/{user}/calendarView/delta";

impl GraphClient {
    /// Start a delta round over `[start, end)` (a full sync).
    pub async fn calendar_view_delta(
        &self,
        tenant: &str,
        user: &str,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<DeltaRound, GraphError> {
        let url = format!(
            "{}{}",
            self.url(&format!("/users/{}/calendarView/delta", segment(user))),
            query(&window(start, end))
        );
        self.delta_round(tenant, user, url).await
    }

    /// The next round from a stored delta link, or a resync from a `DeltaReset`'s
    /// location. `tenant` and `user` give the token and the mailbox's limits.
    /// `DeltaReset { location }` (410): call again with `location`, then replace local
    /// state; `SyncStateNotFound`: start over with `calendar_view_delta`.
    pub async fn calendar_view_delta_continue(
        &self,
        tenant: &str,
        user: &str,
        delta_link: &str,
    ) -> Result<DeltaRound, GraphError> {
        self.delta_round(tenant, user, delta_link.to_string()).await
    }

    async fn delta_round(&self, tenant: &str, user: &str, first: String) -> Result<DeltaRound, GraphError> {
        let prefer = match self.inner.cfg.page_size {
            Some(n) => format!("{PREFER_UTC_HTML}, odata.maxpagesize={n}"),
            None => PREFER_UTC_HTML.to_string(),
        };
        let mut req = Request::new(Method::GET, first, ROUTE, tenant)
            .mailbox(user)
            .prefer(prefer);
        let mut items = Vec::new();
        for _ in 0..MAX_PAGES {
            let page: CollectionPage<Event> = self.execute(&req).await?.json(ROUTE)?;
            for e in page.value {
                match (e.removed.is_some(), e.id.clone()) {
                    (true, Some(id)) => items.push(DeltaItem::Removed { id }),
                    (false, Some(_)) => items.push(DeltaItem::Upserted(e)),
                    (_, None) => {
                        return Err(GraphError::Decode {
                            route: ROUTE,
                            detail: "delta item without an id".into(),
                        });
                    }
                }
            }
            match (page.next_link, page.delta_link) {
                (Some(next), _) => req.url = next,
                (None, Some(delta_link)) => return Ok(DeltaRound { items, delta_link }),
                (None, None) => {
                    return Err(GraphError::Decode {
                        route: ROUTE,
                        detail: "delta page with neither nextLink nor deltaLink".into(),
                    });
                }
            }
        }
        Err(GraphError::Decode {
            route: ROUTE,
            detail: format!("more than {MAX_PAGES} pages"),
        })
    }
}
