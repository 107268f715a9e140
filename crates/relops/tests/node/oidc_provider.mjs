// A real OpenID provider for the console's SSO tests: npm `oidc-provider` (panva), with
// its development login pages (any password), one confidential client and the accounts
// of the config file.
//
// Usage: node oidc_provider.mjs CONFIG.json — {"port", "client_id", "client_secret",
// "redirect_uri", "accounts": {"id": {"name", "email", "groups": [...]}}}. Prints
// "ready" once it listens.
import fs from "node:fs";
import Provider from "oidc-provider";

const cfg = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const provider = new Provider(`http://127.0.0.1:${cfg.port}`, {
  clients: [{
    client_id: cfg.client_id,
    client_secret: cfg.client_secret,
    redirect_uris: [cfg.redirect_uri],
    grant_types: ["authorization_code"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
  }],
  scopes: ["openid", "profile", "email", "groups"],
  claims: { openid: ["sub"], profile: ["name"], email: ["email"], groups: ["groups"] },
  // The scopes' claims go into the ID token, as company providers configure it for
  // group claims.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ["relops-test-cookie-key"] },
  async findAccount(_ctx, id) {
    const a = cfg.accounts[id];
    if (!a) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...a }; } };
  },
});
provider.listen(cfg.port, () => console.log("ready"));
