//! The HTTP client every non-server command uses.

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cli::Global;
use crate::output::{CliError, failed, usage};

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    product: Option<String>,
}

impl Client {
    pub fn new(g: &Global) -> anyhow::Result<Self> {
        let base = g.url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(usage(format!(
                "--url / RELOPS_URL `{}` must start with http:// or https://",
                g.url
            )));
        }
        let mut http = reqwest::Client::builder()
            .user_agent(concat!("relops-cli/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &g.ca_cert {
            let pem =
                std::fs::read(ca).map_err(|e| usage(format!("--ca-cert {}: {e}", ca.display())))?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
                usage(format!(
                    "--ca-cert {}: not a PEM certificate: {e}",
                    ca.display()
                ))
            })?;
            http = http.add_root_certificate(cert);
        }
        Ok(Self {
            http: http.build()?,
            base,
            token: g.token.clone().filter(|t| !t.is_empty()),
            product: g.product.clone(),
        })
    }

    /// The same server as another token (a second person's).
    pub fn as_token(&self, token: &str) -> Client {
        Client {
            token: Some(token.to_owned()),
            ..self.clone()
        }
    }

    /// The HTTP client (with `--ca-cert` trusted), for other calls to the same server.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The server URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The product named with --product / RELOPS_PRODUCT, if any.
    pub fn product(&self) -> Option<&str> {
        self.product.as_deref()
    }

    /// An unauthenticated GET of a public path (the feed), with the status checked.
    pub async fn get_public(&self, path: &str) -> anyhow::Result<Response> {
        let rb = self.http.get(format!("{}{path}", self.base));
        self.send(rb).await
    }

    /// Like [`get_public`](Self::get_public), but a 404 is `None`.
    pub async fn get_public_opt(&self, path: &str) -> anyhow::Result<Option<Response>> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| failed(format!("cannot reach relops at {}: {e}", self.base)))?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(failed(format!(
                "GET {path}: {}",
                status_words(resp.status())
            )));
        }
        Ok(Some(resp))
    }

    /// A request to `/v1{path}`, authenticated, with `?product=` when one was named.
    pub fn request(&self, method: Method, path: &str) -> anyhow::Result<RequestBuilder> {
        let token = self.token.as_deref().ok_or_else(|| {
            usage("no API token: set RELOPS_TOKEN or pass --token (relops init printed the first one)")
        })?;
        let mut rb = self
            .http
            .request(method, format!("{}/v1{path}", self.base))
            .bearer_auth(token);
        if let Some(p) = &self.product {
            rb = rb.query(&[("product", p)]);
        }
        Ok(rb)
    }

    /// Sends and turns a non-2xx answer into the server's error message (exit 1).
    pub async fn send(&self, rb: RequestBuilder) -> anyhow::Result<Response> {
        let resp = rb.send().await.map_err(|e| {
            if e.is_connect() || e.is_timeout() {
                failed(format!(
                    "cannot reach relops at {}: {e}. Is `relops serve` running? Set RELOPS_URL or --url.",
                    self.base
                ))
            } else {
                failed(format!("request to {} failed: {e}", self.base))
            }
        })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str::<relops_api::ErrorBody>(&text).unwrap_or_else(|_| {
            relops_api::ErrorBody {
                code: format!("http_{}", status.as_u16()),
                error: text.trim().to_owned(),
                permission: None,
            }
        });
        let message = format!("{} ({})", body.error, status_words(status));
        Err(CliError::Server { body, message }.into())
    }

    /// A file from `/v1{path}` with the name its `Content-Disposition` gives (the server
    /// sends plain characters only; `.` and `..` are not names), else `fallback`.
    pub async fn download(
        &self,
        path: &str,
        fallback: String,
    ) -> anyhow::Result<(String, bytes::Bytes)> {
        let resp = self.send(self.request(Method::GET, path)?).await?;
        let name = resp
            .headers()
            .get(reqwest::header::CONTENT_DISPOSITION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split("filename=\"").nth(1))
            .map(|v| v.trim_end_matches('"').to_owned())
            .filter(|n| !n.is_empty() && n != "." && n != ".." && !n.contains('/'))
            .unwrap_or(fallback);
        Ok((name, resp.bytes().await?))
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let rb = self.request(Method::GET, path)?;
        Ok(self.send(rb).await?.json().await?)
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        let rb = self.request(Method::POST, path)?.json(body);
        Ok(self.send(rb).await?.json().await?)
    }
}

fn status_words(s: StatusCode) -> String {
    match s.canonical_reason() {
        Some(r) => format!("HTTP {} {r}", s.as_u16()),
        None => format!("HTTP {}", s.as_u16()),
    }
}

/// Percent-encodes one path segment (artifact names may hold spaces).
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
