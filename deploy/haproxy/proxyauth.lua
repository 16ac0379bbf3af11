-- proxyauth.lua: HAProxy 2.6 action that asks proxyauthd's /auth about a
-- request, with HAProxy's own HTTP client (core.httpclient).  Loaded by
-- deploy/haproxy/haproxy.cfg:
--
--   global
--       setenv PROXYAUTHD_AUTH_URL http://127.0.0.1:9180/auth
--       lua-load /etc/haproxy/proxyauth.lua
--   frontend ...
--       http-request lua.proxyauth
--
-- It sends proxyauthd only headers: every Proxy-Authorization the client
-- sent (two of them are refused by proxyauthd as malformed), and context
-- headers it sets itself (X-Forwarded-Host from txn.host, which haproxy.cfg
-- sets from the served Host; X-Forwarded-Uri and X-Forwarded-Method from the
-- request line; X-Forwarded-For the TCP peer).  It never reads a client's
-- X-Auth-* or context header.  The answer goes into variables for
-- haproxy.cfg to act on:
--   txn.pa_status     proxyauthd's status; 503 when it gave none (down,
--                     timeout, error) or a 204 without exactly one
--                     non-empty X-Auth-User, so nothing unanswered or
--                     ambiguous is an allow
--   txn.pa_challenge  its Proxy-Authenticate (on 407); with [negotiate],
--                     proxyauthd sends two, Negotiate first, and the
--                     second (Basic) is also in X-Auth-Challenge-Basic:
--   txn.pa_challenge_basic  that Basic challenge, set only when the first
--                     is not already it, so haproxy.cfg adds a second
--                     Proxy-Authenticate line only then
--   txn.pa_user, txn.pa_groups   X-Auth-User and X-Auth-Groups (on 204)
-- Nothing is logged here: the credentials stay out of HAProxy's logs.

local auth_url = os.getenv("PROXYAUTHD_AUTH_URL") or "http://127.0.0.1:9180/auth"
-- The server timeout of one attempt; core.httpclient makes up to four.
local timeout_ms = tonumber(os.getenv("PROXYAUTHD_TIMEOUT_MS") or "3000")

-- The values of one header of a HAProxy header table (indexed from 0).
local function values(hdrs, name)
    local out = {}
    local t = hdrs[name]
    if t == nil then
        return out
    end
    local i = 0
    while t[i] ~= nil do
        out[#out + 1] = t[i]
        i = i + 1
    end
    return out
end

local function first(hdrs, name)
    local v = values(hdrs, name)
    return v[1]
end

core.register_action("proxyauth", { "http-req" }, function(txn)
    txn:set_var("txn.pa_status", 503)
    local req = txn.http:req_get_headers()
    local h = {
        ["X-Forwarded-Host"] = { txn:get_var("txn.host") or "" },
        ["X-Forwarded-Uri"] = { txn.sf:pathq() or "/" },
        ["X-Forwarded-Method"] = { txn.sf:method() },
        ["X-Forwarded-For"] = { txn.sf:src() },
    }
    local creds = values(req, "proxy-authorization")
    if #creds > 0 then
        h["Proxy-Authorization"] = creds
    end
    local ok, res = pcall(function()
        local hc = core.httpclient()
        return hc:get{ url = auth_url, headers = h, timeout = timeout_ms }
    end)
    if not ok or res == nil or res.status == nil or res.status == 0 then
        return
    end
    if res.status == 204 then
        -- An allow names exactly one user (and at most one group list);
        -- anything else is not proxyauthd's answer: it stays 503.
        local users = values(res.headers, "x-auth-user")
        local groups = values(res.headers, "x-auth-groups")
        if #users ~= 1 or users[1] == "" or #groups > 1 then
            return
        end
        txn:set_var("txn.pa_user", users[1])
        txn:set_var("txn.pa_groups", groups[1] or "")
    elseif res.status == 407 then
        local challenge = first(res.headers, "proxy-authenticate") or ""
        local basic = first(res.headers, "x-auth-challenge-basic")
        txn:set_var("txn.pa_challenge", challenge)
        if basic ~= nil and basic ~= challenge then
            txn:set_var("txn.pa_challenge_basic", basic)
        end
    end
    txn:set_var("txn.pa_status", res.status)
end)
