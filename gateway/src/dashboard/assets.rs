//! The dashboard's static files: the vendored front-end libraries
//! (`gateway/assets/vendor/`, licences beside them) and the stylesheet,
//! compiled into the binary and served under `/ui/assets/` with their
//! content hash in the name, plus the brand's stylesheet and logo.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// One file served under `/ui/assets/`.
pub(crate) struct Asset {
    /// Its served name (`htmx-<hash>.js`).
    pub name: String,
    content_type: &'static str,
    bytes: &'static [u8],
}

fn asset(stem: &str, ext: &str, content_type: &'static str, bytes: &'static [u8]) -> Asset {
    let hash = hex::encode(&Sha256::digest(bytes)[..6]);
    Asset { name: format!("{stem}-{hash}.{ext}"), content_type, bytes }
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every static file.
pub(crate) static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    vec![
        asset("htmx", "js", JS, include_bytes!("../../assets/vendor/htmx/htmx.min.js")),
        asset("uplot", "js", JS, include_bytes!("../../assets/vendor/uplot/uPlot.iife.min.js")),
        asset("uplot", "css", CSS, include_bytes!("../../assets/vendor/uplot/uPlot.min.css")),
        asset("dashboard", "css", CSS, include_bytes!("../../assets/dashboard.css")),
        asset("favicon", "png", "image/png", include_bytes!("../../assets/favicon.png")),
    ]
});

/// The served path of the static file whose name starts with `stem` and
/// ends with `.ext`.
pub(crate) fn path(stem: &str, ext: &str) -> String {
    ASSETS
        .iter()
        .find(|a| a.name.starts_with(&format!("{stem}-")) && a.name.ends_with(&format!(".{ext}")))
        .map(|a| format!("/ui/assets/{}", a.name))
        .unwrap_or_default()
}

/// `GET /ui/assets/{name}`.
pub(crate) fn serve(name: &str) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => {
            ([(header::CONTENT_TYPE, HeaderValue::from_static(a.content_type))], a.bytes).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A logo's type, from its first bytes (PNG, WebP or JPEG; nothing else,
/// SVG least of all: it can carry script).
pub(crate) fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else {
        None
    }
}

/// The largest logo.
pub(crate) const MAX_LOGO: usize = 256 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_have_hashed_names_and_are_found() {
        let htmx = path("htmx", "js");
        assert!(htmx.starts_with("/ui/assets/htmx-") && htmx.ends_with(".js"), "{htmx}");
        assert_eq!(htmx.len(), "/ui/assets/htmx-".len() + 12 + 3);
        let name = htmx.trim_start_matches("/ui/assets/");
        assert_eq!(serve(name).status(), StatusCode::OK);
        assert_eq!(serve("htmx.js").status(), StatusCode::NOT_FOUND);
        assert_eq!(serve("../Cargo.toml").status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn logos_are_known_by_their_bytes() {
        assert_eq!(image_type(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(image_type(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(image_type(&[0xff, 0xd8, 0xff, 0xe0]), Some("image/jpeg"));
        assert_eq!(image_type(b"<svg xmlns='http://www.w3.org/2000/svg'><script/></svg>"), None);
        assert_eq!(image_type(b"GIF89a"), None);
        assert_eq!(image_type(b""), None);
    }
}
