//! The one outbound client every call's http capability shares, the
//! resolver that keeps DNS names off internal addresses, and what a failed
//! request tells the guest (a non-public address is `denied`; the rest is
//! `unavailable`, without the transport's own text).

use crate::bindings::WitError;
use crate::origin::is_public;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Builds the shared client: no proxies from the environment, no automatic
/// redirects (the capability follows them itself, checking each hop), and
/// name resolution through [`PublicOnlyResolver`].
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(PublicOnlyResolver))
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("wasmclaw/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Why a name did not resolve to a usable address.
#[derive(Debug, thiserror::Error)]
#[error("{0} resolves only to non-public addresses")]
pub struct NonPublicAddress(String);

/// A resolver that keeps only public addresses, so that no DNS name, and
/// no rebinding of one, can reach an internal service.
pub struct PublicOnlyResolver;

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.filter(|a| is_public(a.ip())).collect();
            if addrs.is_empty() {
                return Err(Box::new(NonPublicAddress(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

pub(super) fn network_error(e: reqwest::Error) -> WitError {
    let mut source: Option<&dyn std::error::Error> = Some(&e);
    while let Some(s) = source {
        if let Some(np) = s.downcast_ref::<NonPublicAddress>() {
            return WitError::Denied(np.to_string());
        }
        source = s.source();
    }
    if e.is_timeout() {
        WitError::Unavailable("the request timed out".into())
    } else if e.is_connect() {
        WitError::Unavailable("cannot connect".into())
    } else {
        WitError::Unavailable("the request failed".into())
    }
}
