//! JSON batching (`POST /v1.0/$batch`): at most 20 requests, unique ids, `dependsOn` with
//! 424 on a failed dependency; each item runs through the normal Graph path, so it is
//! authenticated, throttled (its own 429 inside a 200 batch) and logged on its own.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

use crate::error::GraphError;
use crate::http::{Body, Req, Resp};
use crate::shared::Shared;

pub const MAX_ITEMS: usize = 20;

pub async fn handle(shared: &Arc<Shared>, req: &Req) -> Result<Resp, GraphError> {
    if req.method != "POST" {
        return Err(GraphError::new(
            405,
            "Request_BadRequest",
            "The HTTP method is not allowed on $batch.",
        ));
    }
    let body = crate::graph::json_body(req)?;
    let items = body
        .get("requests")
        .and_then(Value::as_array)
        .ok_or_else(|| GraphError::bad_request("Invalid batch payload format: 'requests' is required."))?;
    if items.len() > MAX_ITEMS {
        return Err(GraphError::bad_request(format!(
            "Unable to process the batch: the number of requests exceeds the limit of {MAX_ITEMS}."
        )));
    }
    let mut ids = Vec::new();
    for it in items {
        let id = match it.get("id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(GraphError::bad_request(
                    "Invalid batch payload format: every request needs an id.",
                ));
            }
        };
        if ids.contains(&id) {
            return Err(GraphError::bad_request(format!(
                "Invalid batch payload format: duplicate request id '{id}'."
            )));
        }
        if it.get("method").and_then(Value::as_str).is_none() || it.get("url").and_then(Value::as_str).is_none() {
            return Err(GraphError::bad_request(
                "Invalid batch payload format: method and url are required.",
            ));
        }
        if it.get("body").is_some_and(|b| !b.is_null()) {
            let has_ct = it
                .get("headers")
                .and_then(Value::as_object)
                .is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case("content-type")));
            if !has_ct {
                return Err(GraphError::bad_request(format!(
                    "Invalid batch payload format: request '{id}' has a body but no Content-Type header."
                )));
            }
        }
        ids.push(id);
    }
    let mut status_of: HashMap<String, u16> = HashMap::new();
    let mut responses = Vec::new();
    for (it, id) in items.iter().zip(ids.iter()) {
        let depends: Vec<String> = it
            .get("dependsOn")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
            .unwrap_or_default();
        let failed_dep = depends
            .iter()
            .any(|d| !status_of.get(d).is_some_and(|s| (200..300).contains(s)));
        if failed_dep {
            status_of.insert(id.clone(), 424);
            responses.push(
                json!({"id": id, "status": 424, "headers": {"Content-Type": "application/json"},
                "body": {"error": {"code": "FailedDependency", "message": "Failed dependency."}}}),
            );
            continue;
        }
        let sub = build_request(req, it);
        let (template, resp) = Box::pin(crate::graph::handle(shared, &sub, true)).await;
        shared.record(&sub.method, &template, &sub.path, resp.status, true);
        status_of.insert(id.clone(), resp.status);
        let mut headers = serde_json::Map::new();
        for (k, v) in &resp.headers {
            headers.insert(k.clone(), json!(v));
        }
        let body = match resp.body {
            Body::Json(v) => {
                headers.insert("Content-Type".into(), json!("application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"));
                Some(v)
            }
            Body::JsonText(t) => {
                headers.insert("Content-Type".into(), json!("application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"));
                Some(serde_json::from_str(&t).unwrap_or(Value::Null))
            }
            Body::Empty => None,
            Body::Raw { bytes, .. } => Some(json!(String::from_utf8_lossy(&bytes))),
        };
        let mut r = json!({"id": id, "status": resp.status, "headers": headers});
        if let (Some(b), Some(o)) = (body, r.as_object_mut()) {
            o.insert("body".into(), b);
        }
        responses.push(r);
    }
    Ok(Resp::json(200, json!({"responses": responses})))
}

fn build_request(outer: &Req, it: &Value) -> Req {
    let method = it
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("GET")
        .to_ascii_uppercase();
    let url = it.get("url").and_then(Value::as_str).unwrap_or("");
    let url = url.strip_prefix("https://graph.microsoft.com").unwrap_or(url);
    let url = url.strip_prefix("/v1.0").unwrap_or(url);
    let url = if url.starts_with('/') {
        url.to_string()
    } else {
        format!("/{url}")
    };
    let (path, raw_query) = match url.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (url, String::new()),
    };
    let mut headers: Vec<(String, String)> = outer
        .headers
        .iter()
        .filter(|(k, _)| k == "authorization" || k == "client-request-id")
        .cloned()
        .collect();
    if let Some(h) = it.get("headers").and_then(Value::as_object) {
        for (k, v) in h {
            if let Some(s) = v.as_str() {
                headers.push((k.to_ascii_lowercase(), s.to_string()));
            }
        }
    }
    let body = match it.get("body") {
        Some(Value::Null) | None => Vec::new(),
        Some(b) => serde_json::to_vec(b).unwrap_or_default(),
    };
    Req {
        method,
        path: format!("/v1.0{path}"),
        query: Req::parse_query(&raw_query),
        raw_query,
        headers,
        body,
        base: outer.base.clone(),
    }
}
