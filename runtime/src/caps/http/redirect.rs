//! A request through its redirects: at most [`MAX_REDIRECTS`] hops, each
//! built again (its origin judged against the grant, the scan repeated)
//! from the `Location` taken literally, each bounded by what the call's
//! deadline leaves and by [`MAX_REQUEST_TIME`].

use super::request::check_request;
use super::response::read_response;
use super::transport::network_error;
use super::{Access, MAX_REDIRECTS, MAX_REQUEST_TIME, wit};
use crate::bindings::WitError;
use std::time::Instant;

impl Access {
    pub(super) async fn send(&mut self, req: wit::Request) -> Result<wit::Response, WitError> {
        let (mut url, t) = check_request(req)?;
        let mut method = t.method.clone();
        let mut with_body = true;
        // Only the guest's own URL is a template.
        let mut expand_url = true;
        for _hop in 0..=MAX_REDIRECTS {
            let remaining = self.deadline.saturating_duration_since(Instant::now()).min(MAX_REQUEST_TIME);
            if remaining.is_zero() {
                return Err(WitError::Unavailable("the call has no time left for a request".into()));
            }
            let rb = self.build(&url, expand_url, &t, &method, with_body)?;
            let resp = tokio::time::timeout(remaining, rb.send())
                .await
                .map_err(|_| WitError::Unavailable("the request timed out".into()))?
                .map_err(network_error)?;
            let status = resp.status();
            if status.is_redirection()
                && let Some(loc) = resp.headers().get(reqwest::header::LOCATION)
            {
                let loc = loc.to_str().map_err(|_| WitError::Unavailable("a bad redirect".into()))?;
                let next =
                    resp.url().join(loc).map_err(|e| WitError::Unavailable(format!("bad redirect: {e}")))?;
                // 303, and 301/302 after a POST, continue as a GET without body.
                if status == reqwest::StatusCode::SEE_OTHER
                    || ((status == reqwest::StatusCode::MOVED_PERMANENTLY
                        || status == reqwest::StatusCode::FOUND)
                        && method == reqwest::Method::POST)
                {
                    method = reqwest::Method::GET;
                    with_body = false;
                }
                url = next.to_string();
                expand_url = false;
                continue;
            }
            let resp = read_response(resp, remaining).await?;
            return self.scrub(resp).await;
        }
        Err(WitError::Unavailable(format!("more than {MAX_REDIRECTS} redirects")))
    }
}
