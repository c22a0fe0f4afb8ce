//! `[dashboard]`: the web dashboard `wasmclaw serve` serves at `/ui`: the
//! host names it answers to, its sessions' lifetimes and its branding
//! (`[dashboard.brand]`). The gateway reads it; [`DashboardConfig::validate`]
//! refuses, at the start and naming the key, what would make pages
//! unreadable or the session unsafe.

use serde::{Deserialize, Serialize};

/// The dashboard's settings (`[dashboard]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DashboardConfig {
    /// Whether `/ui` is served at all (default true).
    pub enabled: bool,
    /// The URL users reach the dashboard at, when not the listen address
    /// (`https://admin.example.com`): its host is allowed in `Host`, and
    /// an `https` one lets the session cookie be set behind a TLS proxy.
    pub public_url: Option<String>,
    /// More host names allowed in `Host` (besides the listen address,
    /// `localhost`, `127.0.0.1`, `[::1]` and `public_url`'s): any other is
    /// refused, against DNS rebinding.
    pub hosts: Vec<String>,
    /// A session ends after this long without a request, seconds.
    pub session_idle_secs: u64,
    /// A session ends this long after sign-in whatever its use, seconds.
    pub session_max_secs: u64,
    /// The look of the pages.
    pub brand: BrandConfig,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            enabled: true,
            public_url: None,
            hosts: Vec::new(),
            session_idle_secs: 30 * 60,
            session_max_secs: 12 * 3600,
            brand: BrandConfig::default(),
        }
    }
}

/// White-label settings (`[dashboard.brand]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrandConfig {
    /// The product's name in titles and the header.
    pub name: String,
    /// A logo file (PNG, WebP or JPEG, at most 256 KiB; checked by its bytes).
    pub logo: Option<std::path::PathBuf>,
    /// The header's and buttons' colour (`#rrggbb`).
    pub primary: String,
    /// Text on the primary colour (`#rrggbb`): at least 4.5:1 against it.
    pub text: String,
    /// Links and focus rings (`#rrggbb`).
    pub accent: String,
    /// A support link shown in the footer (`https://…` or `mailto:…`).
    pub support_url: Option<String>,
    /// Whether the footer says "powered by wasmclaw".
    pub powered_by: bool,
}

impl Default for BrandConfig {
    fn default() -> Self {
        BrandConfig {
            name: "wasmclaw".into(),
            logo: None,
            primary: "#1f3a5f".into(),
            text: "#ffffff".into(),
            accent: "#0b5cad".into(),
            support_url: None,
            powered_by: true,
        }
    }
}

/// The least contrast of text on the primary colour (WCAG 2.1 AA).
pub const MIN_CONTRAST: f64 = 4.5;

/// A `#rrggbb` colour's channels.
pub fn parse_colour(s: &str) -> Option<[u8; 3]> {
    let hex = s.strip_prefix('#')?;
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([channel(0)?, channel(2)?, channel(4)?])
}

/// WCAG 2.1 relative luminance.
fn luminance([r, g, b]: [u8; 3]) -> f64 {
    let lin = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
    };
    0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
}

/// The WCAG contrast ratio of two colours (1 to 21).
pub fn contrast(a: [u8; 3], b: [u8; 3]) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

impl BrandConfig {
    /// Refuses a name, colour or link the pages could not show as meant,
    /// naming the key (`prefix` is where the table is: `dashboard.brand`).
    pub fn validate(&self, prefix: &str) -> Result<(), String> {
        if self.name.trim().is_empty()
            || self.name.chars().count() > 64
            || self.name.chars().any(char::is_control)
        {
            return Err(format!("{prefix}.name: 1 to 64 printable characters"));
        }
        let colour = |key: &str, v: &str| {
            parse_colour(v).ok_or_else(|| format!("{prefix}.{key}: a colour as #rrggbb, not {v:?}"))
        };
        let primary = colour("primary", &self.primary)?;
        let text = colour("text", &self.text)?;
        colour("accent", &self.accent)?;
        let ratio = contrast(primary, text);
        if ratio < MIN_CONTRAST {
            return Err(format!(
                "{prefix}.text: {} on {} has a contrast of {ratio:.2}:1, below {MIN_CONTRAST}:1 (WCAG AA)",
                self.text, self.primary
            ));
        }
        if let Some(url) = &self.support_url {
            let ok = (url.starts_with("https://") || url.starts_with("mailto:"))
                && url.len() <= 512
                && !url.chars().any(|c| c.is_control() || c.is_whitespace() || c == '"' || c == '<');
            if !ok {
                return Err(format!(
                    "{prefix}.support_url: an https:// or mailto: link of at most 512 characters"
                ));
            }
        }
        Ok(())
    }
}

impl DashboardConfig {
    /// Refuses settings the dashboard cannot serve safely, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(url) = &self.public_url
            && public_host(url).is_none()
        {
            return Err(format!("dashboard.public_url: an http:// or https:// URL with a host, not {url:?}"));
        }
        for h in &self.hosts {
            if h.is_empty()
                || h.len() > 253
                || !h.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
            {
                return Err(format!("dashboard.hosts: {h:?} is not a host name"));
            }
        }
        if self.session_idle_secs == 0 || self.session_idle_secs > self.session_max_secs {
            return Err(
                "dashboard.session_idle_secs: at least 1 and at most dashboard.session_max_secs".into()
            );
        }
        if self.session_max_secs > 30 * 24 * 3600 {
            return Err("dashboard.session_max_secs: at most 2592000 (30 days)".into());
        }
        self.brand.validate("dashboard.brand")
    }
}

/// `(https?, host)` of a `public_url` (the host lower-cased, without port).
pub fn public_host(url: &str) -> Option<(bool, String)> {
    let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else {
        (false, url.strip_prefix("http://")?)
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let host = strip_port(authority).to_ascii_lowercase();
    (!host.is_empty()).then_some((https, host))
}

/// A `Host` value without its port (`[::1]:80` → `[::1]`).
pub fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(i) => &authority[..=i],
            None => authority,
        };
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_brand_is_readable() {
        assert!(DashboardConfig::default().validate().is_ok());
        let b = BrandConfig::default();
        assert!(contrast(parse_colour(&b.primary).unwrap(), parse_colour(&b.text).unwrap()) >= MIN_CONTRAST);
    }

    #[test]
    fn low_contrast_text_is_refused_naming_the_key() {
        let b = BrandConfig { primary: "#777777".into(), text: "#888888".into(), ..Default::default() };
        let e = b.validate("dashboard.brand").unwrap_err();
        assert!(e.starts_with("dashboard.brand.text:"), "{e}");
        assert!(e.contains("below 4.5:1"), "{e}");
        // Black on white is 21:1; #767676 on white is the AA edge (4.54).
        assert!((contrast([0, 0, 0], [255, 255, 255]) - 21.0).abs() < 1e-9);
        let edge = BrandConfig { primary: "#ffffff".into(), text: "#767676".into(), ..Default::default() };
        assert!(edge.validate("b").is_ok());
        let below = BrandConfig { primary: "#ffffff".into(), text: "#777777".into(), ..Default::default() };
        assert!(below.validate("b").is_err());
    }

    #[test]
    fn bad_colours_links_and_names_are_refused() {
        for (b, key) in [
            (BrandConfig { primary: "red".into(), ..Default::default() }, "primary"),
            (BrandConfig { accent: "#12345".into(), ..Default::default() }, "accent"),
            (BrandConfig { text: "#ffffff;}".into(), ..Default::default() }, "text"),
            (
                BrandConfig { support_url: Some("javascript:alert(1)".into()), ..Default::default() },
                "support_url",
            ),
            (
                BrandConfig { support_url: Some("https://x\" onmouseover=\"".into()), ..Default::default() },
                "support_url",
            ),
            (BrandConfig { name: String::new(), ..Default::default() }, "name"),
            (BrandConfig { name: "a\u{7}".into(), ..Default::default() }, "name"),
        ] {
            let e = b.validate("dashboard.brand").unwrap_err();
            assert!(e.starts_with(&format!("dashboard.brand.{key}:")), "{e}");
        }
    }

    #[test]
    fn public_urls_and_hosts() {
        assert_eq!(
            public_host("https://Admin.Example.com:8443/ui"),
            Some((true, "admin.example.com".into()))
        );
        assert_eq!(public_host("http://[::1]:8420"), Some((false, "[::1]".into())));
        assert_eq!(public_host("https://user@evil.example"), None);
        assert_eq!(public_host("ftp://x"), None);
        assert_eq!(strip_port("localhost:8420"), "localhost");
        let bad = DashboardConfig { hosts: vec!["a b".into()], ..Default::default() };
        assert!(bad.validate().unwrap_err().starts_with("dashboard.hosts"));
        let idle = DashboardConfig { session_idle_secs: 0, ..Default::default() };
        assert!(idle.validate().unwrap_err().starts_with("dashboard.session_idle_secs"));
    }
}
