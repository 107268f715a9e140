//! The company's OpenID provider (`[console.oidc]`): the authorization code flow with
//! PKCE and a nonce, through the `openidconnect` crate (discovery, token exchange, ID
//! token signature, issuer, audience, expiry and nonce checks). Its HTTP goes through
//! relops' reqwest without following redirects.
//!
//! The provider's metadata is discovered on first use and kept; a login whose ID token's
//! signature does not check out discovers again (the provider may have rotated its keys),
//! and the person logs in again (a code is used once).

use std::collections::HashMap;

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EmptyExtraTokenFields,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, StandardErrorResponse,
    StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use crate::config::OidcConfig;

/// Every claim of the ID token beyond the standard ones (the groups claim's name is
/// configured).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Extra {
    #[serde(flatten)]
    pub claims: HashMap<String, serde_json::Value>,
}
impl AdditionalClaims for Extra {}

type Fields = IdTokenFields<
    Extra,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type Client = openidconnect::Client<
    Extra,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    StandardTokenResponse<Fields, CoreTokenType>,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Why a login through the provider failed (shown on the login page).
#[derive(Debug, thiserror::Error)]
pub(crate) enum OidcError {
    #[error("the OpenID provider cannot be reached or answered wrongly: {0}")]
    Provider(String),
    #[error("the provider's answer did not check out: {0}")]
    Invalid(String),
}

/// The HTTP error of a request to the provider.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct HttpError(String);

/// A person as the provider vouches for them.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub subject: String,
    pub name: String,
    /// The groups claim's values.
    pub groups: Vec<String>,
}

/// A login under way: where to send the browser, and what the callback checks.
#[derive(Debug)]
pub(crate) struct Started {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

pub(crate) struct Oidc {
    config: OidcConfig,
    http: reqwest::Client,
    client: RwLock<Option<Client>>,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

impl Oidc {
    pub fn new(config: OidcConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()?;
        Ok(Self {
            config,
            http,
            client: RwLock::new(None),
        })
    }

    pub fn button(&self) -> &str {
        &self.config.button
    }

    pub fn roles_claim(&self) -> &str {
        &self.config.roles_claim
    }

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// Sends a request of the `openidconnect` crate through reqwest.
    async fn send(
        http: reqwest::Client,
        req: openidconnect::HttpRequest,
    ) -> Result<openidconnect::HttpResponse, HttpError> {
        let (parts, body) = req.into_parts();
        let r = http
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(|e| HttpError(e.to_string()))?;
        let mut out = http::Response::builder().status(r.status());
        for (k, v) in r.headers() {
            out = out.header(k, v);
        }
        let body = r.bytes().await.map_err(|e| HttpError(e.to_string()))?;
        out.body(body.to_vec())
            .map_err(|e| HttpError(e.to_string()))
    }

    /// The client over the discovered metadata (discovered now if not yet, or `fresh`).
    async fn client(&self, fresh: bool) -> Result<Client, OidcError> {
        if !fresh && let Some(c) = self.client.read().await.as_ref() {
            return Ok(c.clone());
        }
        let http = self.http.clone();
        let call = move |req| Self::send(http.clone(), req);
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| OidcError::Provider(e.to_string()))?;
        let meta = CoreProviderMetadata::discover_async(issuer, &call)
            .await
            .map_err(|e| OidcError::Provider(chain(&e)))?;
        let redirect = RedirectUrl::new(self.config.redirect_url.clone())
            .map_err(|e| OidcError::Provider(e.to_string()))?;
        let client = Client::from_provider_metadata(
            meta,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(redirect);
        *self.client.write().await = Some(client.clone());
        Ok(client)
    }

    /// The provider's authorization address for a new login.
    pub async fn start(&self) -> Result<Started, OidcError> {
        let client = self.client(false).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for s in &self.config.scopes {
            req = req.add_scope(Scope::new(s.clone()));
        }
        let (url, state, nonce) = req.set_pkce_challenge(challenge).url();
        Ok(Started {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges the callback's code and checks the ID token: the person it names.
    pub async fn finish(
        &self,
        code: &str,
        verifier: &str,
        nonce: &str,
    ) -> Result<Person, OidcError> {
        match self.exchange(code, verifier, nonce).await {
            Err(OidcError::Invalid(m)) if m.contains("signature") => {
                // The provider may have rotated its keys since discovery.
                self.client(true).await?;
                Err(OidcError::Invalid(format!("{m}; log in again")))
            }
            r => r,
        }
    }

    async fn exchange(&self, code: &str, verifier: &str, nonce: &str) -> Result<Person, OidcError> {
        let client = self.client(false).await?;
        let http = self.http.clone();
        let call = move |req| Self::send(http.clone(), req);
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OidcError::Provider(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
            .request_async(&call)
            .await
            .map_err(|e| OidcError::Invalid(chain(&e)))?;
        let id = token
            .id_token()
            .ok_or_else(|| OidcError::Invalid("the provider sent no ID token".into()))?;
        let claims = id
            .claims(&client.id_token_verifier(), &Nonce::new(nonce.to_owned()))
            .map_err(|e| OidcError::Invalid(chain(&e)))?;
        let subject = claims.subject().as_str().to_owned();
        let name = claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned())
            .or_else(|| claims.email().map(|e| e.as_str().to_owned()))
            .unwrap_or_else(|| subject.clone());
        let groups = match claims
            .additional_claims()
            .claims
            .get(&self.config.roles_claim)
        {
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            Some(serde_json::Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        };
        Ok(Person {
            subject,
            name,
            groups,
        })
    }
}

/// An error with its causes, in one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
