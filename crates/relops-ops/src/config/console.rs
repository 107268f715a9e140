//! The `[console]` section: the web console's sessions, and `[console.oidc]`, login
//! through the company's OpenID provider with its groups mapped to relops roles.

use std::collections::BTreeMap;

use relops_core::access::Role;
use serde::{Deserialize, Serialize};

/// `[console]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// A console session ends this many hours after login (log in again).
    pub session_hours: u32,
    /// Send the session cookie with `Secure` (browsers then send it over HTTPS only).
    /// Default: when relops serves TLS itself (`tls_cert`); set `true` behind a proxy that
    /// terminates TLS.
    pub secure_cookie: Option<bool>,
    /// Single sign-on through an OpenID provider (none: API tokens only).
    pub oidc: Option<OidcConfig>,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            session_hours: 12,
            secure_cookie: None,
            oidc: None,
        }
    }
}

/// `[console.oidc]`: the authorization code flow with PKCE against `issuer` (discovered
/// from its `/.well-known/openid-configuration`); the ID token's `roles_claim` (a list of
/// group names, or one name) is mapped to roles by `[console.oidc.roles]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The provider's issuer URL, exactly as its ID tokens name it.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// `https://relops.example.com/login/oidc/callback`: this server's callback, as
    /// registered with the provider.
    pub redirect_url: String,
    /// The login page's button.
    #[serde(default = "default_button")]
    pub button: String,
    /// Scopes asked for besides `openid`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The ID token claim that holds the person's groups.
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// Group → the relops roles its members hold (`"wizard-oncall" = ["oncall_devops"]`).
    /// A person in no mapped group cannot log in. The mapping is the configuration's:
    /// roles that need a second person's confirmation for a token (admin, product owner,
    /// security engineer) are granted here by whoever may change the configuration.
    pub roles: BTreeMap<String, Vec<Role>>,
}

fn default_button() -> String {
    "Log in with your company account".into()
}

fn default_scopes() -> Vec<String> {
    vec!["profile".into(), "email".into(), "groups".into()]
}

fn default_roles_claim() -> String {
    "groups".into()
}

impl OidcConfig {
    /// Checks the addresses and the mapping.
    pub fn validate(&self) -> Result<(), String> {
        for (what, u) in [
            ("issuer", &self.issuer),
            ("redirect_url", &self.redirect_url),
        ] {
            let parsed = url::Url::parse(u)
                .map_err(|e| format!("[console.oidc] {what} = {u:?} is not a URL: {e}"))?;
            if !matches!(parsed.scheme(), "https" | "http") {
                return Err(format!(
                    "[console.oidc] {what} must be an https:// (or, for tests, http://) address"
                ));
            }
        }
        if !self.redirect_url.ends_with("/login/oidc/callback") {
            return Err(format!(
                "[console.oidc] redirect_url must be this server's /login/oidc/callback, e.g. https://relops.example.com/login/oidc/callback, not {:?}",
                self.redirect_url
            ));
        }
        if self.client_id.is_empty() || self.client_secret.is_empty() {
            return Err("[console.oidc] client_id and client_secret are needed (as registered with the provider)".into());
        }
        if self.roles.is_empty() || self.roles.values().any(Vec::is_empty) {
            return Err("[console.oidc.roles] maps no group to a role: add e.g. \"wizard-oncall\" = [\"oncall_devops\"]".into());
        }
        Ok(())
    }
}
